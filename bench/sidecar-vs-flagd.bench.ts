// Flagwright's sidecar against flagd over OFREP, on the same 50 flags (translated by
// bench/flagd-translate.ts), loaded by the same autocannon run: same connections, same request
// mix of flags and users. Rounds alternate which server goes first; each round starts both afresh.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { buildDocument, type FlagDocument, type ResolvedFlag } from "../src/core/index.js";
import { SIDECAR_NODE_OPTIONS } from "../src/operator/injection/mutation.js";
import { seededRandom } from "../test/support/seeded-random.js";
import { ensureFlagdBinary } from "./flagd/build.js";
import { type OfrepServerProcess, startOfrepServer } from "./flagd/process.js";
import { toFlagd } from "./flagd-translate.js";
import { ensureLoadgenBinary, runLoadgen } from "./loadgen/build.js";
import { cpuMs, memoryMiB } from "./proc.js";
import { type Contender, measureIdle, writeBareNodeServer } from "./sidecar-idle.js";
import { measureSse } from "./sidecar-sse.js";
import {
  type BenchResult,
  type Figure,
  formatNumber,
  pairedRatios,
  type RatioRow,
  summarize,
} from "./stats.js";

export const name = "sidecar-vs-flagd";
export const description =
  "`flagwright sidecar --file` (bundled and started as the injected container starts it) against flagd " +
  "(flagd core v0.13.3's evaluator and OFREP models behind a handler mirroring flagd's; bench/flagd) on " +
  "the same 50 flags, over OFREP on loopback, single-flag POSTs cycling through 1,000 (flag, user) " +
  "pairs, 16 keep-alive connections: saturation by autocannon (closed loop), latency at a fixed rate " +
  "by bench/loadgen (open loop). Ratios are Flagwright ÷ flagd per round.";

const root = fileURLToPath(new URL("..", import.meta.url));
const CONNECTIONS = 16;
const USERS = Array.from({ length: 1000 }, (_, i) => `user-${i}`);

/** 50 flags: static (on, disabled, killed), percentage rollouts, variant splits and allow-lists. */
export function benchDocument(): FlagDocument {
  const next = seededRandom(7); // the same mix on every run
  const someUsers = (n: number) =>
    Array.from({ length: n }, () => USERS[Math.floor(next() * USERS.length)] as string);
  const flags: Record<string, ResolvedFlag> = {};
  const base = { enabled: true, killed: false, percent: 100, allowedUsers: [] as string[], revision: "r1" };
  for (let i = 0; i < 50; i++) {
    switch (i % 5) {
      case 0: // static: on, disabled or killed
        flags[`static-${i}`] = { ...base, enabled: i % 15 !== 5, killed: i % 15 === 10 };
        break;
      case 1: // percentage rollout, some with an allow-list
        flags[`rollout-${i}`] = {
          ...base,
          percent: 5 + ((i * 7) % 90),
          allowedUsers: i % 2 ? someUsers(10) : [],
        };
        break;
      case 2: // variants at 100 %
        flags[`variants-${i}`] = {
          ...base,
          variants: [
            { name: "control", weight: 50, value: "control" },
            { name: "treatment", weight: 50, value: "treatment" },
          ],
        };
        break;
      case 3: // variants in a partial rollout with an allow-list
        flags[`experiment-${i}`] = {
          ...base,
          percent: 30,
          allowedUsers: someUsers(10),
          defaultValue: "none",
          variants: [
            { name: "a", weight: 34, value: "a" },
            { name: "b", weight: 33, value: "b" },
            { name: "c", weight: 33, value: "c" },
          ],
        };
        break;
      default: // allow-list only
        flags[`allow-list-${i}`] = { ...base, percent: 0, allowedUsers: someUsers(20) };
    }
  }
  return buildDocument("bench", flags);
}

/** The request mix both servers get: 1,000 (flag, user) pairs, fixed by the seed. */
function requestMix(doc: FlagDocument): { method: "POST"; path: string; body: string }[] {
  const next = seededRandom(42);
  const keys = Object.keys(doc.flags);
  return Array.from({ length: 1000 }, () => ({
    method: "POST" as const,
    path: `/ofrep/v1/evaluate/flags/${keys[Math.floor(next() * keys.length)]}`,
    body: JSON.stringify({ context: { targetingKey: USERS[Math.floor(next() * USERS.length)] } }),
  }));
}

/**
 * The sidecar as shipped: the package's bin, bundled by `npm run bundle` (JavaScript, no tsx loader
 * in the process, whose memory would count against it) into a private folder under .bench-results.
 * Returns its CLI entry point.
 */
export function buildSidecar(): { main: string; dispose(): void } {
  const dir = join(root, ".bench-results", `sidecar-build-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  const outDir = join(dir, "dist", "bundle");
  execFileSync("npm", ["run", "--silent", "bundle", "--", `--outdir=${outDir}`], {
    cwd: root,
    stdio: "inherit",
  });
  // The CLI reads its version from ../../package.json; node_modules resolves from the repository.
  writeFileSync(join(dir, "package.json"), readFileSync(join(root, "package.json")));
  return {
    main: join(outDir, "main.js"),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

const hasTaskset = spawnSync("taskset", ["--version"]).status === 0;
// SIDECAR_FLAGD_PIN=0 turns pinning off: on a machine busy with other work a pinned server cannot
// move away from a crowded CPU.
const PIN = hasTaskset && os.cpus().length >= 2 && process.env.SIDECAR_FLAGD_PIN !== "0";
/** With pinning, the servers run on CPU 1 and the load generator (this process) on CPU 0. */
const SERVER_CPU = "1";
const GENERATOR_CPU = "0";

/**
 * A command pinned from its first instruction, so runtimes size themselves for one CPU (Go's
 * GOMAXPROCS, Node's thread pools) the same way for both servers.
 */
function pinned(command: string, args: string[]): [string, string[]] {
  return PIN ? ["taskset", ["--cpu-list", SERVER_CPU, command, ...args]] : [command, args];
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  p999: number;
  failed: number;
  /** Server CPU ms per 1,000 answered requests. */
  cpuPer1k: number;
  /** The server's CPU use over the run, as a share of one core. */
  serverCpu: number;
  /** The load generator's own CPU use, as a share of one core. */
  generatorCpu: number;
}

/** Closed loop: each connection sends its next request as soon as the answer is in. */
async function saturate(
  server: OfrepServerProcess,
  requests: autocannon.Request[],
  seconds: number,
): Promise<Load> {
  const cpuBefore = cpuMs(server.pid);
  const generatorBefore = process.cpuUsage();
  const started = performance.now();
  const result = await autocannon({ url: server.url, connections: CONNECTIONS, duration: seconds, requests });
  const wallMs = performance.now() - started;
  const generator = process.cpuUsage(generatorBefore);
  const cpu = cpuMs(server.pid) - cpuBefore;
  const answered = result.requests.total;
  return {
    // Over the measured duration: autocannon's per-second average drops a last partial second.
    rps: answered / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    p999: result.latency.p99_9,
    failed: result.errors + result.timeouts + result.non2xx,
    cpuPer1k: answered > 0 ? cpu / (answered / 1000) : Number.NaN,
    serverCpu: cpu / wallMs,
    generatorCpu: (generator.user + generator.system) / 1000 / wallMs,
  };
}

/**
 * Open loop at a fixed rate (bench/loadgen): requests leave at evenly spaced instants whatever the
 * server does, and latency counts from each request's own send, so a server's stall shows in every
 * request it delays. The generator is a separate process on the generator's CPU.
 */
async function fixedRate(
  server: OfrepServerProcess,
  loadgen: string,
  requestsFile: string,
  seconds: number,
  rate: number,
): Promise<Load> {
  const cpuBefore = cpuMs(server.pid);
  const started = performance.now();
  const report = await runLoadgen(loadgen, {
    url: server.url,
    requestsFile,
    rate,
    seconds,
    connections: CONNECTIONS,
  });
  const wallMs = performance.now() - started;
  const cpu = cpuMs(server.pid) - cpuBefore;
  const answered = report.requests - report.failed;
  return {
    rps: report.rate,
    p50: report.p50Ms,
    p99: report.p99Ms,
    p999: report.p999Ms,
    failed: report.failed,
    cpuPer1k: answered > 0 ? cpu / (answered / 1000) : Number.NaN,
    serverCpu: cpu / wallMs,
    generatorCpu: Number.NaN,
  };
}

interface RoundResult {
  saturation: Load;
  fixed: Load;
  rssMiB: number;
}

/** Half the lower saturation rate of the two, rounded down to two significant digits. */
export function holdableRate(saturations: number[]): number {
  const half = Math.min(...saturations) / 2;
  const step = 10 ** Math.max(0, Math.floor(Math.log10(half)) - 1);
  return Math.max(step, Math.floor(half / step) * step);
}

const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

export async function run({ smoke }: { smoke: boolean }): Promise<BenchResult> {
  const loadAtStart = loadAverage();
  const rounds = smoke ? 1 : 5;
  // Node's JIT needs a few seconds of load before it settles; the warm-up is not measured.
  const seconds = smoke ? { warmup: 0.5, run: 1 } : { warmup: 3, run: 10 };
  const doc = benchDocument();
  const mix = requestMix(doc);
  const requests: autocannon.Request[] = mix.map((r) => ({
    ...r,
    headers: { "content-type": "application/json" },
  }));
  const dir = await mkdtemp(join(os.tmpdir(), "flagwright-sidecar-vs-flagd-"));
  const ourFile = join(dir, "flags.json");
  const flagdFile = join(dir, "flags.flagd.json");
  writeFileSync(ourFile, JSON.stringify(doc));
  writeFileSync(flagdFile, JSON.stringify(toFlagd(doc)));
  const requestsFile = join(dir, "requests.json");
  writeFileSync(requestsFile, JSON.stringify(mix));
  const loadgen = await ensureLoadgenBinary((line) => console.log(`  [loadgen] ${line}`));
  const flagdBinary = await ensureFlagdBinary((line) => console.log(`  [flagd] ${line}`));
  const sidecarBuild = buildSidecar();
  const sidecarMain = sidecarBuild.main;
  const sidecar: Contender = {
    label: "Flagwright sidecar",
    start: () =>
      startOfrepServer(
        ...pinned(process.execPath, [
          ...SIDECAR_NODE_OPTIONS,
          sidecarMain,
          "sidecar",
          "--file",
          ourFile,
          "--listen",
          "127.0.0.1:0",
        ]),
      ),
  };
  const flagd: Contender = {
    label: "flagd",
    start: () => startOfrepServer(...pinned(flagdBinary, ["--file", flagdFile, "--listen", "127.0.0.1:0"])),
  };
  const bareNodeScript = writeBareNodeServer(dir);
  const bareNode: Contender = {
    label: `bare Node ${process.version} HTTP server`,
    start: () => startOfrepServer(...pinned(process.execPath, [...SIDECAR_NODE_OPTIONS, bareNodeScript])),
  };

  const originalAffinity = PIN
    ? execFileSync("taskset", ["--pid", String(process.pid)], { encoding: "utf8" })
        .trim()
        .split(/\s+/)
        .pop()
    : undefined;
  if (PIN) {
    execFileSync("taskset", ["--all-tasks", "--pid", "--cpu-list", GENERATOR_CPU, String(process.pid)]);
  }
  try {
    // The latency runs' fixed rate: half of what the slower server sustained in round 1, unless
    // SIDECAR_FLAGD_RATE sets it.
    let rate = Number(process.env.SIDECAR_FLAGD_RATE) || 0;
    const results = new Map<Contender, RoundResult[]>([
      [sidecar, []],
      [flagd, []],
    ]);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? [sidecar, flagd] : [flagd, sidecar];
      // Both servers run through the round (the idle one costs next to nothing) so that the
      // fixed rate can follow from this round's saturation figures.
      const servers = new Map<Contender, OfrepServerProcess>();
      try {
        for (const c of order) servers.set(c, await c.start());
        const saturation = new Map<Contender, Load>();
        for (const c of order) {
          const server = servers.get(c) as OfrepServerProcess;
          await saturate(server, requests, seconds.warmup);
          saturation.set(c, await saturate(server, requests, seconds.run));
        }
        if (!rate) {
          rate = holdableRate([...saturation.values()].map((l) => l.rps));
          console.log(`  fixed rate for the latency runs: ${rate} requests/s`);
        }
        for (const c of order) {
          const server = servers.get(c) as OfrepServerProcess;
          const fixed = await fixedRate(server, loadgen, requestsFile, seconds.run, rate);
          const r = { saturation: saturation.get(c) as Load, fixed, rssMiB: memoryMiB(server.pid, "VmHWM") };
          results.get(c)?.push(r);
          console.log(
            `  round ${round + 1}/${rounds} ${c.label}: ${formatNumber(r.saturation.rps)} req/s and ` +
              `${formatNumber(r.saturation.cpuPer1k)} CPU ms per 1,000 at saturation; p99 ${r.fixed.p99} ms at ` +
              `${rate} req/s; peak RSS ${formatNumber(r.rssMiB)} MiB (load average ${loadAverage()})`,
          );
        }
      } finally {
        for (const server of servers.values()) await server.stop();
      }
    }

    const figures: Figure[] = [];
    const series = (c: Contender, pick: (r: RoundResult) => number) => (results.get(c) ?? []).map(pick);
    for (const c of [sidecar, flagd]) {
      figures.push(
        {
          name: `${c.label}: requests/s at saturation`,
          unit: "req/s",
          samples: series(c, (r) => r.saturation.rps),
        },
        {
          name: `${c.label}: CPU use at saturation`,
          unit: "% of a core",
          samples: series(c, (r) => r.saturation.serverCpu * 100),
        },
        {
          name: `${c.label}: CPU per 1,000 requests at saturation`,
          unit: "CPU ms",
          samples: series(c, (r) => r.saturation.cpuPer1k),
        },
        {
          name: `${c.label}: p50 latency at ${rate} req/s`,
          unit: "ms",
          samples: series(c, (r) => r.fixed.p50),
        },
        {
          name: `${c.label}: p99 latency at ${rate} req/s`,
          unit: "ms",
          samples: series(c, (r) => r.fixed.p99),
        },
        {
          name: `${c.label}: p99.9 latency at ${rate} req/s`,
          unit: "ms",
          samples: series(c, (r) => r.fixed.p999),
        },
        {
          name: `${c.label}: CPU per 1,000 requests at ${rate} req/s`,
          unit: "CPU ms",
          samples: series(c, (r) => r.fixed.cpuPer1k),
        },
        { name: `${c.label}: peak resident memory`, unit: "MiB", samples: series(c, (r) => r.rssMiB) },
        {
          name: `${c.label}: failed requests (errors, timeouts, non-2xx)`,
          unit: "requests",
          samples: series(c, (r) => r.saturation.failed + r.fixed.failed),
        },
      );
    }
    const ratio = (name: string, pick: (r: RoundResult) => number, note: string): RatioRow => ({
      name,
      samples: pairedRatios(series(sidecar, pick), series(flagd, pick)),
      note,
    });
    const ratios: RatioRow[] = [
      ratio("requests/s at saturation", (r) => r.saturation.rps, "above 1: Flagwright serves more"),
      ratio(
        "requests per CPU-second at saturation",
        (r) => 1000 / r.saturation.cpuPer1k,
        "above 1: Flagwright does more per CPU (the throughput-per-CPU target)",
      ),
      ratio(
        `p99 latency at ${rate} req/s`,
        (r) => r.fixed.p99,
        "below 1: Flagwright answers faster (the p99 target)",
      ),
      ratio(`p99.9 latency at ${rate} req/s`, (r) => r.fixed.p999, "below 1: Flagwright answers faster"),
      ratio(
        `CPU per 1,000 requests at ${rate} req/s`,
        (r) => r.fixed.cpuPer1k,
        "below 1: Flagwright spends less CPU on the same load",
      ),
      ratio("peak resident memory", (r) => r.rssMiB, "below 1: Flagwright uses less memory"),
    ];
    const allRuns = [...results.values()].flat();
    const generator = summarize(allRuns.map((r) => r.saturation.generatorCpu));
    const held = allRuns.every((r) => r.fixed.rps >= rate * 0.95);
    const notes = [
      `Machine: ${os.cpus().length} cores; load average ${loadAtStart} at the start of this benchmark, ${loadAverage()} at the end (other work on the machine makes every figure noisier).`,
      PIN
        ? `Pinned with taskset: each server on CPU ${SERVER_CPU} from its start (so Go's GOMAXPROCS is 1), the load generator (this process) on CPU ${GENERATOR_CPU}; other processes on the machine are not kept away.`
        : "Not pinned (SIDECAR_FLAGD_PIN=0, no taskset, or a single core): the load generator and the server share the CPUs, so saturation figures are a floor.",
      "A server below about 90 % of a core at saturation was not the bottleneck (the load generator or other work on the machine was): read its requests/s as a floor and compare CPU per 1,000 requests.",
      `The load generator used ${formatNumber(generator.median * 100)} % of a core at saturation (median; min ${formatNumber(generator.min * 100)} %, max ${formatNumber(generator.max * 100)} %). Near 100 %, autocannon is the bottleneck and requests/s at saturation understates the faster server: compare CPU per 1,000 requests instead.`,
      `Latency runs: bench/loadgen (vegeta's attacker, open loop: evenly spaced sends, each latency from its own send) with at most ${CONNECTIONS} connections at a fixed ${rate} requests/s (half the slower server's saturation in round 1; SIDECAR_FLAGD_RATE overrides); ${held ? "the rate was held in every round" : "the rate was NOT held in every round"}. Not autocannon's overallRate, which sends each connection's quota for the second back to back at the start of the second.`,
      `The sidecar runs with the injected container's V8 options: ${SIDECAR_NODE_OPTIONS.join(" ")}.`,
      `Rounds: ${rounds}, alternating which server goes first; both servers are started afresh per round (peak RSS is per process lifetime); ${seconds.warmup} s warm-up, ${seconds.run} s per measurement.`,
      "flagd: the Go module proxy does not serve github.com/open-feature/flagd/flagd, so bench/flagd wires flagd core v0.13.3's JSON evaluator, flag store and OFREP models behind a handler that mirrors flagd's OFREP handler. Real flagd also runs otelhttp, a metrics middleware, per-evaluation metrics, CORS and compression middleware on this path; leaving them out makes the comparison, if anything, generous to flagd. The Flagwright sidecar runs with its defaults (Prometheus counters per evaluation, first-exposure tracking).",
      "Same flags, same answers where no hashing is involved (static, disabled, killed, allow-listed); rollout and variant splits have the same shares but bucket users differently (flagd: murmur3, Flagwright: sha256), see test/unit/bench/flagd-translate.test.ts.",
    ];
    // Not pinned, after the paired rounds: the event path is I/O (inotify, one write per stream).
    if (originalAffinity) {
      execFileSync("taskset", ["--all-tasks", "--pid", originalAffinity, String(process.pid)]);
    }
    figures.push(...(await measureIdle([sidecar, flagd, bareNode], mix, smoke)));
    notes.push(
      `Idle rows: each server alone, resident memory 1 s after it is ready, then 1 s after ${smoke ? "300" : "3,000"} sequential requests of the same mix (${smoke ? "1 round" : "3 rounds, alternating the order"}). The second is what a pod shows once it has served traffic: V8's optimizing compiler has then run, and its code pages in the node binary count in the RSS. The bare Node server (node:http, JSON in, JSON out, the sidecar's V8 options) is Node's own floor.`,
    );
    figures.push(...(await measureSse(sidecarMain, dir, smoke)));
    notes.push(
      "SSE rows (sidecar only; the flagd build compared with has no event stream): a document swapped in by rename, as the kubelet does, to the refetchEvaluation event at a client of GET /ofrep/v1/events; then with 1,000 streams open, each stream's arrival (polled every 5 ms), and the resident memory of 1,000 idle streams.",
    );
    return { figures, ratios, notes };
  } finally {
    if (originalAffinity)
      execFileSync("taskset", ["--all-tasks", "--pid", originalAffinity, String(process.pid)]);
    await rm(dir, { recursive: true, force: true });
    sidecarBuild.dispose();
  }
}
