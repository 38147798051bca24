// The open-loop load generator of the latency runs (bench/loadgen/main.go, on vegeta's attacker),
// built from the Go module proxy once and cached under ~/.cache/flagwright/loadgen-<source hash>/
// like flagd. `node --import tsx bench/loadgen/build.ts` builds it (.ci/run does) and prints its path.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ensureGoBuild } from "../../scripts/go-build.js";

const sourceDir = fileURLToPath(new URL(".", import.meta.url));

/** The cached loadgen binary for the current bench/loadgen sources, built first if missing. */
export async function ensureLoadgenBinary(log: (line: string) => void = () => {}): Promise<string> {
  const binDir = await ensureGoBuild({
    name: "loadgen",
    dir: sourceDir,
    targets: [{ binary: "loadgen", pkg: "." }],
    log,
  });
  return join(binDir, "loadgen");
}

export interface LoadgenReport {
  requests: number;
  /** Requests per second actually sent. */
  rate: number;
  failed: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  errors: string[];
}

/** Sends `requestsFile`'s requests to `url` at a fixed `rate` for `seconds`; the generator's report. */
export async function runLoadgen(
  binary: string,
  options: { url: string; requestsFile: string; rate: number; seconds: number; connections: number },
): Promise<LoadgenReport> {
  const { stdout } = await promisify(execFile)(binary, [
    `-url=${options.url}`,
    `-requests=${options.requestsFile}`,
    `-rate=${options.rate}`,
    `-duration=${options.seconds}s`,
    `-connections=${options.connections}`,
  ]);
  return JSON.parse(stdout) as LoadgenReport;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await ensureLoadgenBinary((line) => console.error(`[loadgen] ${line}`)));
}
