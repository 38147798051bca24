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

export interface LoadgenOptions {
  /** Base URL; may be left out when every entry of the requests file has a `url` of its own. */
  url?: string;
  /** JSON array of {method, path, body, url?}, sent in rotation. */
  requestsFile: string;
  /** Requests per second over all clients. */
  rate: number;
  seconds: number;
  /** At most this many connections per client and server. */
  connections: number;
  /** Independent clients (default 1), each at rate ÷ clients; client i sends entries i, i + clients... */
  clients?: number;
  /** Headers for every request, e.g. `Authorization: Bearer x`. */
  headers?: string[];
  /** Also write each request's send time (ms after the first) and latency here, one per line. */
  samplesFile?: string;
  /** A command to run the generator under, e.g. `["chrt", "--fifo", "10"]` for its scheduling. */
  runUnder?: string[];
}

/** Sends `requestsFile`'s requests at a fixed `rate` for `seconds`; the generator's report. */
export async function runLoadgen(binary: string, options: LoadgenOptions): Promise<LoadgenReport> {
  const argv = [...(options.runUnder ?? []), binary];
  const { stdout } = await promisify(execFile)(argv[0] as string, [
    ...argv.slice(1),
    ...(options.url === undefined ? [] : [`-url=${options.url}`]),
    `-requests=${options.requestsFile}`,
    `-rate=${options.rate}`,
    `-duration=${options.seconds}s`,
    `-connections=${options.connections}`,
    ...(options.clients === undefined ? [] : [`-clients=${options.clients}`]),
    ...(options.headers ?? []).map((h) => `-header=${h}`),
    ...(options.samplesFile === undefined ? [] : [`-samples=${options.samplesFile}`]),
  ]);
  return JSON.parse(stdout) as LoadgenReport;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await ensureLoadgenBinary((line) => console.error(`[loadgen] ${line}`)));
}
