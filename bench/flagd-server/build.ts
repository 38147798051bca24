// The flagd server itself (github.com/open-feature/flagd/flagd v0.16.0, unmodified), the peer of
// the "sidecar vs flagd" benchmark, built from the Go module proxy once and cached under
// ~/.cache/flagwright/flagd-server-<shim hash>-<source hash>/flagd like the other Go builds.
// Two of its dependencies are not served by the proxy (403 "This module version is not
// available"), so go.mod substitutes them: flagd core v0.16.0 for the v0.15.6 it asks for (the
// nearest newer release; v0.16.1 and v0.17.0 changed store.NewSelector, which flagd v0.16.0 calls,
// to return an error too), and operator-api/ for github.com/open-feature/open-feature-operator/api
// v0.2.47 (the operator's API types, used only by the Kubernetes sync, which the benchmark does not
// run). `node --import tsx bench/flagd-server/build.ts` builds it (.ci/run does) and prints its
// path.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureGoBuild, goSourceHash } from "../../scripts/go-build.js";

const sourceDir = fileURLToPath(new URL(".", import.meta.url));
const operatorApiTypes = join(sourceDir, "operator-api", "core", "v1beta1");

/** The flagd server's version as built here: what `flagd version` and the benchmarks report. */
export const FLAGD_SERVER_VERSION = "v0.16.0";

/** The cached flagd server binary for the current bench/flagd-server sources, built first if missing. */
export async function ensureFlagdServerBinary(log: (line: string) => void = () => {}): Promise<string> {
  const binDir = await ensureGoBuild({
    // The stand-in module's sources live below this folder, which the source hash does not cover.
    name: `flagd-server-${goSourceHash(operatorApiTypes).slice(0, 8)}`,
    dir: sourceDir,
    targets: [
      {
        binary: "flagd",
        pkg: "github.com/open-feature/flagd/flagd",
        ldflags: `-s -w -X main.version=${FLAGD_SERVER_VERSION}`,
      },
    ],
    log,
  });
  return join(binDir, "flagd");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await ensureFlagdServerBinary((line) => console.error(`[flagd-server] ${line}`)));
}
