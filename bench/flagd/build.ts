// flagd core's evaluator (v0.17.0, bench/flagd/main.go: its evaluator and store behind a handler
// mirroring flagd's OFREP handler, plus an in-process loop for the evaluator-only benchmark), built
// from the Go module proxy once and cached under ~/.cache/flagwright/flagd-<source hash>/flagd
// like the control plane and helm.
// `node --import tsx bench/flagd/build.ts` builds it (.ci/run does) and prints its path.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureGoBuild } from "../../scripts/go-build.js";

const sourceDir = fileURLToPath(new URL(".", import.meta.url));

/** The cached flagd binary for the current bench/flagd sources, built first if missing. */
export async function ensureFlagdBinary(log: (line: string) => void = () => {}): Promise<string> {
  const binDir = await ensureGoBuild({
    name: "flagd",
    dir: sourceDir,
    targets: [{ binary: "flagd", pkg: "." }],
    log,
  });
  return join(binDir, "flagd");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await ensureFlagdBinary((line) => console.error(`[flagd] ${line}`)));
}
