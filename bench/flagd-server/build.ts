// The flagd server itself (github.com/open-feature/flagd/flagd v0.16.0, unmodified), the peer of
// the "sidecar vs flagd" benchmark, built from the Go module proxy once and cached under
// ~/.cache/flagwright/flagd-server-<source hash>/flagd like the other Go builds. It is the newest
// flagd server the proxy serves (v0.16.1 and every v0.10 - v0.15 release tried answer 403 "This
// module version is not available"). Two of its dependencies are not served either, so go.mod
// swaps in published versions that are, with no source of ours: flagd core v0.16.0 for the
// v0.15.6 it asks for (the nearest newer release; v0.16.1 and v0.17.0 changed store.NewSelector,
// which flagd v0.16.0 calls, to also return an error), and the operator's API types from the
// module's older path, github.com/open-feature/open-feature-operator/apis v0.2.44, for .../api
// v0.2.47 (whose .info and .mod are served but not its .zip), with controller-runtime held at
// v0.19.3 for their admission webhook. Those types are used only by the Kubernetes sync, which the
// benchmark does not run. `node --import tsx bench/flagd-server/build.ts` builds it (.ci/run
// does) and prints its path.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureGoBuild } from "../../scripts/go-build.js";

const sourceDir = fileURLToPath(new URL(".", import.meta.url));

/** The flagd server's version as built here: what `flagd version` and the benchmarks report. */
export const FLAGD_SERVER_VERSION = "v0.16.0";

/** The cached flagd server binary for the current bench/flagd-server sources, built first if missing. */
export async function ensureFlagdServerBinary(log: (line: string) => void = () => {}): Promise<string> {
  const binDir = await ensureGoBuild({
    name: "flagd-server",
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
