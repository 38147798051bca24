// Flagwright's sidecar against the flagd server (v0.16.0, bench/flagd-server) over OFREP, on the
// same 50 flags (translated by bench/flagd-translate.ts), loaded by the same generators: same
// connections, same request mix of flags and users. Rounds alternate which server goes first;
// each round starts both afresh.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { buildDocument, type FlagDocument, type ResolvedFlag } from "../src/core/index.js";
import { seededRandom } from "../test/support/seeded-random.js";
import { describeSidecarOptions, SIDECAR_V8_OPTIONS } from "./deployed.js";
import { type OfrepServerProcess, startOfrepServer } from "./flagd/process.js";
import { ensureFlagdServerBinary, FLAGD_SERVER_VERSION } from "./flagd-server/build.js";
import { flagdStartArgs, startFlagdServer } from "./flagd-server/process.js";
import { toFlagd } from "./flagd-translate.js";
import { ensureLoadgenBinary, runLoadgen } from "./loadgen/build.js";
import { cpuPinning, GENERATOR_CPU, SERVER_CPU } from "./pinning.js";
import { onlyLoopback, runInPrivateNetwork } from "./private-network.js";
import { cpuMs, cpuTimes, loadAverage, memoryMiB, stolenShare } from "./proc.js";
import { type Contender, measureIdle, writeBareNodeServer } from "./sidecar-idle.js";
import { measureSse } from "./sidecar-sse.js";
import {
  type BenchResult,
  type Figure,
  formatNumber,
  formatVerdict,
  pairedRatios,
  type RatioRow,
  ratioSpread,
  summarize,
} from "./stats.js";

export const name = "sidecar-vs-flagd";
export const description =
  "`flagwright sidecar --file` (bundled and started as the injected container starts it) against the " +
  `flagd server ${FLAGD_SERVER_VERSION} (\`flagd start --uri file:…\`, its OFREP service; bench/flagd-server) on ` +
  "the same 50 flags, over OFREP on loopback, single-flag POSTs cycling through 1,000 (flag, user) " +
  "pairs, 16 keep-alive connections: saturation by autocannon (closed loop), latency at a fixed rate " +
  "and in a burst of 10× that rate by bench/loadgen (open loop). Ratios are Flagwright ÷ flagd per round.";

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

/** The request mix both servers get (and the shared-evaluator benchmark's): 1,000 (flag, user) pairs, fixed by the seed. */
export function requestMix(doc: FlagDocument): { method: "POST"; path: string; body: string }[] {
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

// SIDECAR_FLAGD_SAMPLES=PREFIX writes every fixed-rate request's send time and latency, one file per slice.
const SAMPLES = process.env.SIDECAR_FLAGD_SAMPLES;

// SIDECAR_FLAGD_PIN=0 turns pinning off.
const pinning = cpuPinning("SIDECAR_FLAGD_PIN");
const PIN = pinning.on;
const pinned = pinning.pinned;
/** The CPU whose steal a measurement is judged by: the servers' when pinned, else all of them. */
const STEAL_CPU = PIN ? SERVER_CPU : "";

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
  /** The share of the time the server's CPU wanted to run that the hypervisor gave to another guest. */
  stolenShare: number;
}

/** Closed loop: each connection sends its next request as soon as the answer is in. */
async function saturate(
  server: OfrepServerProcess,
  requests: autocannon.Request[],
  seconds: number,
): Promise<Load> {
  const cpuBefore = cpuMs(server.pid);
  const timesBefore = cpuTimes(STEAL_CPU);
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
    stolenShare: stolenShare(timesBefore, cpuTimes(STEAL_CPU)),
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
  samplesFile?: string,
): Promise<Load> {
  const cpuBefore = cpuMs(server.pid);
  const timesBefore = cpuTimes(STEAL_CPU);
  const started = performance.now();
  const report = await runLoadgen(loadgen, {
    url: server.url,
    requestsFile,
    rate,
    seconds,
    connections: CONNECTIONS,
    ...(samplesFile && { samplesFile }),
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
    stolenShare: stolenShare(timesBefore, cpuTimes(STEAL_CPU)),
  };
}

interface RoundResult {
  saturation: Load;
  fixed: Load;
  /** The steal share of each fixed-rate slice kept. */
  sliceSteal: number[];
  burst: Load;
  rssMiB: number;
}

/** The burst: this many times the fixed rate, for BURST_SECONDS. */
const BURST_FACTOR = 10;
const BURST_SECONDS = 1;

/**
 * One server's fixed-rate figures from its slices of a round: each latency percentile the median
 * over the slices (one slice hit by a stall outside the server, e.g. the host's, does not set the
 * round's figure); rates and CPU per 1,000 requests averaged (the slices are equal in length and
 * rate); failures summed.
 */
export function combineSlices(slices: readonly Load[]): Load {
  const mean = (pick: (l: Load) => number) => slices.reduce((sum, l) => sum + pick(l), 0) / slices.length;
  const median = (pick: (l: Load) => number) => summarize(slices.map(pick)).median;
  return {
    rps: mean((l) => l.rps),
    p50: median((l) => l.p50),
    p99: median((l) => l.p99),
    p999: median((l) => l.p999),
    failed: slices.reduce((sum, l) => sum + l.failed, 0),
    cpuPer1k: mean((l) => l.cpuPer1k),
    serverCpu: mean((l) => l.serverCpu),
    generatorCpu: Number.NaN,
    stolenShare: mean((l) => l.stolenShare),
  };
}

/**
 * On a shared host the hypervisor now and then gives a CPU's time to another guest (steal): tens
 * of ms at a time, for minutes, up to half the time the CPU wants. A measurement that lost more
 * than this share measures the neighbour, not the server; it is measured again.
 */
export const STEAL_LIMIT = 0.05;
export const MEASURE_ATTEMPTS = 4;

export interface UndisturbedOptions {
  limit?: number;
  attempts?: number;
  /** Waits this long before attempt k + 1 (k from 1): steal comes in episodes, so give it time. */
  pauseMs?: (k: number) => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Measures until the hypervisor took at most `limit` of the server CPU's time, `attempts` times at
 * most, pausing longer after each disturbed attempt; returns the last measurement and the steal of
 * those set aside. Both servers get the same rule, and the report says how often each was
 * measured again.
 */
export async function measureUndisturbed<T extends { stolenShare: number }>(
  measure: () => Promise<T>,
  {
    limit = STEAL_LIMIT,
    attempts = MEASURE_ATTEMPTS,
    pauseMs = (k) => 5000 * 2 ** (k - 1),
    sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  }: UndisturbedOptions = {},
): Promise<{ load: T; setAside: number[] }> {
  const setAside: number[] = [];
  for (;;) {
    const load = await measure();
    if (load.stolenShare <= limit || setAside.length + 1 >= attempts) return { load, setAside };
    setAside.push(load.stolenShare);
    await sleep(pauseMs(setAside.length));
  }
}

/**
 * Whether a round measured the servers rather than the host: false when, for either server, most
 * of its kept fixed-rate slices still lost more than `limit` to steal (so the median slice is a
 * disturbed one). The ratios leave such rounds out, and the report names them.
 */
export function roundUndisturbed(sliceSteal: readonly (readonly number[])[], limit = STEAL_LIMIT): boolean {
  return sliceSteal.every((shares) => shares.filter((s) => s > limit).length * 2 < shares.length);
}

/**
 * The fixed-rate slices of a round, A B B A A B: each server measured three times, at positions
 * 1, 4, 5 and 2, 3, 6 (averages 3.3 and 3.7), so that a drift in the machine's load over the round
 * weighs on both alike, and with a median that one disturbed slice cannot move.
 */
export function sliceOrder<T>(order: readonly [T, T]): T[] {
  const [a, b] = order;
  return [a, b, b, a, a, b];
}

/**
 * The latency runs' fixed rate as a share of the slower server's saturation rate. Not a half: a
 * server spends more CPU per request at a moderate rate than at saturation, where each wake-up
 * serves a batch, so at half its saturation rate flagd was busy 55 – 70 % of the time. There its
 * p99 sits on the steep part of the queueing curve, where the few per cent by which one process's
 * cost per request differs from the next's moved its p99 between rounds by up to 2.4×.
 */
export const FIXED_RATE_SHARE = 0.25;

/** FIXED_RATE_SHARE of the lower saturation rate of the two, rounded down to two significant digits. */
export function holdableRate(saturations: number[]): number {
  const share = Math.min(...saturations) * FIXED_RATE_SHARE;
  const step = 10 ** Math.max(0, Math.floor(Math.log10(share)) - 1);
  return Math.max(step, Math.floor(share / step) * step);
}

/** What the measurement needs from the builds, which run outside the private network namespace. */
export interface MeasureInput {
  smoke: boolean;
  loadgen: string;
  flagdBinary: string;
  sidecarMain: string;
}

export async function run({ smoke }: { smoke: boolean }): Promise<BenchResult> {
  // The builds may need the Go module proxy, so they run here, before the private namespace.
  const loadgen = await ensureLoadgenBinary((line) => console.log(`  [loadgen] ${line}`));
  const flagdBinary = await ensureFlagdServerBinary((line) => console.log(`  [flagd-server] ${line}`));
  const sidecarBuild = buildSidecar();
  try {
    const input: MeasureInput = { smoke, loadgen, flagdBinary, sidecarMain: sidecarBuild.main };
    // flagd opens ports on every interface: both servers and every load generator run in a
    // private network namespace where the only interface is loopback (the same for both).
    if (onlyLoopback()) return await measure(input);
    console.log("  in a private network namespace (unshare --net): loopback only, for both servers");
    return await runInPrivateNetwork<BenchResult>(fileURLToPath(import.meta.url), "measure", input);
  } finally {
    sidecarBuild.dispose();
  }
}

/** The benchmark proper; every server it starts listens on loopback of this network namespace. */
export async function measure({
  smoke,
  loadgen,
  flagdBinary,
  sidecarMain,
}: MeasureInput): Promise<BenchResult> {
  const loadAtStart = loadAverage();
  // More rounds narrow the p99 ratio's spread on a busy machine (SIDECAR_FLAGD_ROUNDS overrides).
  const rounds = smoke ? 1 : Number(process.env.SIDECAR_FLAGD_ROUNDS) || 8;
  // Node's JIT needs a few seconds of load before it settles; the warm-ups are not measured. Each
  // server gets three fixed-rate slices (sliceOrder).
  const seconds = smoke
    ? { warmup: 0.5, run: 1, fixedWarmup: 0.5, slice: 0.5 }
    : { warmup: 3, run: 10, fixedWarmup: 3, slice: 5 };
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
  const sidecar: Contender = {
    label: "Flagwright sidecar",
    start: () =>
      startOfrepServer(
        ...pinned(process.execPath, [
          ...SIDECAR_V8_OPTIONS,
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
    label: `flagd ${FLAGD_SERVER_VERSION}`,
    start: () =>
      startFlagdServer({
        binary: flagdBinary,
        file: flagdFile,
        probeFlag: Object.keys(doc.flags)[0] as string,
        wrapper: PIN ? ["taskset", "--cpu-list", SERVER_CPU] : [],
      }),
  };
  console.log(`  ${describeSidecarOptions()}`);
  console.log(
    `  flagd ran as: flagd ${flagdStartArgs(flagdFile, "<private folder>", { management: 0, ofrep: 0 })
      .join(" ")
      .replace(/ 0\b/g, " <free port>")} (its defaults otherwise)`,
  );
  const bareNodeScript = writeBareNodeServer(dir);
  const bareNode: Contender = {
    label: `bare Node ${process.version} HTTP server`,
    start: () => startOfrepServer(...pinned(process.execPath, [...SIDECAR_V8_OPTIONS, bareNodeScript])),
  };

  const restoreAffinity = pinning.pinSelf();
  try {
    // The latency runs' fixed rate: FIXED_RATE_SHARE of what the slower server sustained in round
    // 1, unless SIDECAR_FLAGD_RATE sets it.
    let rate = Number(process.env.SIDECAR_FLAGD_RATE) || 0;
    const results = new Map<Contender, RoundResult[]>([
      [sidecar, []],
      [flagd, []],
    ]);
    // Measurements set aside because of steal (measureUndisturbed), per server and kind.
    const repeated = { saturation: new Map<Contender, number>(), fixed: new Map<Contender, number>() };
    const undisturbed = async (
      c: Contender,
      kind: keyof typeof repeated,
      what: string,
      measure: () => Promise<Load>,
    ) => {
      const { load, setAside } = await measureUndisturbed(measure, smoke ? { attempts: 1 } : {});
      repeated[kind].set(c, (repeated[kind].get(c) ?? 0) + setAside.length);
      for (const share of setAside)
        console.log(
          `    ${c.label}, ${what}: measured again, the hypervisor took ${formatNumber(share * 100)} % of CPU ${STEAL_CPU || "time"}`,
        );
      return load;
    };
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
          saturation.set(
            c,
            await undisturbed(c, "saturation", "saturation", () => saturate(server, requests, seconds.run)),
          );
        }
        if (!rate) {
          rate = holdableRate([...saturation.values()].map((l) => l.rps));
          console.log(`  fixed rate for the latency runs: ${rate} requests/s`);
        }
        const at = (c: Contender) => servers.get(c) as OfrepServerProcess;
        // Warm-up at the fixed rate, then the measured slices A B B A A B.
        for (const c of order) await fixedRate(at(c), loadgen, requestsFile, seconds.fixedWarmup, rate);
        const slices = new Map<Contender, Load[]>(order.map((c) => [c, []]));
        for (const [i, c] of sliceOrder(order as [Contender, Contender]).entries()) {
          const samplesFile =
            SAMPLES && `${SAMPLES}.round${round + 1}.slice${i + 1}.${c === sidecar ? "sidecar" : "flagd"}`;
          slices
            .get(c)
            ?.push(
              await undisturbed(c, "fixed", `fixed-rate slice ${i + 1}`, () =>
                fixedRate(at(c), loadgen, requestsFile, seconds.slice, rate, samplesFile),
              ),
            );
        }
        // The burst: a second at the fixed rate, then BURST_FACTOR times it for BURST_SECONDS; its
        // latencies include the queue the burst builds and the time to drain it.
        const bursts = new Map<Contender, Load>();
        for (const c of order) {
          await fixedRate(at(c), loadgen, requestsFile, 1, rate);
          bursts.set(c, await fixedRate(at(c), loadgen, requestsFile, BURST_SECONDS, rate * BURST_FACTOR));
        }
        for (const c of order) {
          const r: RoundResult = {
            saturation: saturation.get(c) as Load,
            fixed: combineSlices(slices.get(c) ?? []),
            sliceSteal: (slices.get(c) ?? []).map((l) => l.stolenShare),
            burst: bursts.get(c) as Load,
            rssMiB: memoryMiB(at(c).pid, "VmHWM"),
          };
          results.get(c)?.push(r);
          console.log(
            `  round ${round + 1}/${rounds} ${c.label}: ${formatNumber(r.saturation.rps)} req/s and ` +
              `${formatNumber(r.saturation.cpuPer1k)} CPU ms per 1,000 at saturation; p99 ${formatNumber(r.fixed.p99)} ms at ` +
              `${rate} req/s, ${formatNumber(r.burst.p99)} ms in the burst; peak RSS ${formatNumber(r.rssMiB)} MiB; ` +
              `steal ${formatNumber(r.fixed.stolenShare * 100)} % at the fixed rate (load average ${loadAverage()})`,
          );
        }
      } finally {
        for (const server of servers.values()) await server.stop();
      }
    }

    const figures: Figure[] = [];
    const series = (c: Contender, pick: (r: RoundResult) => number) => (results.get(c) ?? []).map(pick);
    // Rounds the host disturbed even after the measurements were taken again: out of the ratios.
    // Not in a smoke run, which measures nothing again and whose half-second slices a single
    // 10 ms tick of steal puts over the limit.
    const kept = Array.from(
      { length: rounds },
      (_, i) => smoke || roundUndisturbed([sidecar, flagd].map((c) => results.get(c)?.[i]?.sliceSteal ?? [])),
    );
    const keptSeries = (c: Contender, pick: (r: RoundResult) => number) =>
      series(c, pick).filter((_, i) => kept[i]);
    const leftOut = kept.flatMap((k, i) => (k ? [] : [i]));
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
        {
          name: `${c.label}: p99 latency in a burst of ${rate * BURST_FACTOR} req/s for ${BURST_SECONDS} s`,
          unit: "ms",
          samples: series(c, (r) => r.burst.p99),
        },
        { name: `${c.label}: peak resident memory`, unit: "MiB", samples: series(c, (r) => r.rssMiB) },
        {
          name: `${c.label}: CPU time taken by the hypervisor (steal) in the fixed-rate slices kept`,
          unit: "%",
          samples: series(c, (r) => r.fixed.stolenShare * 100),
          note: `of the time CPU ${STEAL_CPU || "time"} wanted to run; slices over ${STEAL_LIMIT * 100} % were measured again (${repeated.fixed.get(c) ?? 0} times over the run)`,
        },
        {
          name: `${c.label}: CPU time taken by the hypervisor (steal) in the saturation runs kept`,
          unit: "%",
          samples: series(c, (r) => r.saturation.stolenShare * 100),
          note: `runs over ${STEAL_LIMIT * 100} % were measured again (${repeated.saturation.get(c) ?? 0} times over the run)`,
        },
        {
          name: `${c.label}: failed requests (errors, timeouts, non-2xx)`,
          unit: "requests",
          samples: series(c, (r) => r.saturation.failed + r.fixed.failed),
          note: "saturation and fixed-rate runs; the burst's failures are counted on their own row",
        },
        {
          name: `${c.label}: failed requests in the burst`,
          unit: "requests",
          samples: series(c, (r) => r.burst.failed),
        },
      );
    }
    const ratio = (
      name: string,
      pick: (r: RoundResult) => number,
      note: string,
      target?: RatioRow["target"],
    ): RatioRow => ({
      name,
      samples: pairedRatios(keptSeries(sidecar, pick), keptSeries(flagd, pick)),
      note,
      ...(target && { target }),
    });
    const p99Ratio = ratio(
      `p99 latency at ${rate} req/s`,
      (r) => r.fixed.p99,
      "below 1: Flagwright answers faster (the p99 target)",
      { atMost: 1 },
    );
    const ratios: RatioRow[] = [
      ratio("requests/s at saturation", (r) => r.saturation.rps, "above 1: Flagwright serves more"),
      ratio(
        "requests per CPU-second at saturation",
        (r) => 1000 / r.saturation.cpuPer1k,
        "above 1: Flagwright does more per CPU (the throughput-per-CPU target)",
        { atLeast: 1.5 },
      ),
      p99Ratio,
      ratio(
        `p99 latency in a burst of ${BURST_FACTOR}× for ${BURST_SECONDS} s`,
        (r) => r.burst.p99,
        "below 1: Flagwright absorbs the burst faster",
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
      `Latency runs: bench/loadgen (vegeta's attacker, open loop: evenly spaced sends, each latency from its own send) with at most ${CONNECTIONS} connections at a fixed ${rate} requests/s (${FIXED_RATE_SHARE * 100} % of the slower server's saturation in round 1; SIDECAR_FLAGD_RATE overrides); ${held ? "the rate was held in every round" : "the rate was NOT held in every round"}. Not autocannon's overallRate, which sends each connection's quota for the second back to back at the start of the second.`,
      describeSidecarOptions(),
      `Rounds: ${rounds}, alternating which server goes first; both servers are started afresh per round (peak RSS is per process lifetime). Saturation: ${seconds.warmup} s warm-up, ${seconds.run} s measured per server. Fixed rate: ${seconds.fixedWarmup} s warm-up at the rate per server, then three slices of ${seconds.slice} s per server ordered A B B A A B (each server's p50, p99 and p99.9 are the medians over its slices, rates and CPU the means). Burst: 1 s at the fixed rate, then ${rate * BURST_FACTOR} req/s (${BURST_FACTOR}×) for ${BURST_SECONDS} s; its p99 includes the queue the burst builds.`,
      `p99 ratio at the fixed rate: ${formatVerdict(p99Ratio.samples, { atMost: 1 })}; rounds' ratios ${formatNumber(summarize(p99Ratio.samples).min)} – ${formatNumber(summarize(p99Ratio.samples).max)} (${formatNumber(ratioSpread(p99Ratio.samples))}×). A spread wider than 2× is reported as unsettled, not as met. How it was narrowed: ${PIN ? "pinning (servers on one CPU, generator on the other), " : ""}both servers in every round with the order alternating, a warm-up at the fixed rate, three slices per server and round ordered A B B A A B with the median taken, a rate well below both servers' saturation, ${rounds} rounds, and a measurement (saturation run or fixed-rate slice) in which the hypervisor took more than ${STEAL_LIMIT * 100} % of the time the server's CPU wanted to run (steal, /proc/stat: another guest on the host) measured again, up to ${MEASURE_ATTEMPTS} attempts with pauses of 5, 10 and 20 s between them (steal comes in episodes); the last attempt is kept whatever its steal. A round in which most of either server's kept slices still lost more than ${STEAL_LIMIT * 100} % is left out of the ratios: ${leftOut.length === 0 ? "none was" : leftOut.map((i) => `round ${i + 1} (steal in the slices kept: ${[sidecar, flagd].map((c) => `${c.label} ${(results.get(c)?.[i]?.sliceSteal ?? []).map((x) => `${formatNumber(x * 100)} %`).join(", ")}`).join("; ")})`).join(", ")}. Measured again: ${[sidecar, flagd].map((c) => `${c.label} ${repeated.saturation.get(c) ?? 0} of ${rounds} saturation runs and ${repeated.fixed.get(c) ?? 0} times over ${rounds * (sliceOrder([0, 1]).length / 2)} slices`).join("; ")}.`,
      `flagd: the flagd server ${FLAGD_SERVER_VERSION} itself (github.com/open-feature/flagd/flagd, bench/flagd-server), started as \`flagd start --uri file:<flags>\` with its defaults (Prometheus metrics, OpenTelemetry instrumentation without an exporter, console logs at info), its evaluation and sync services on Unix sockets and its management and OFREP services on two free ports; requests go to its OFREP service. Built with flagd core v0.16.0 for the v0.15.6 it asks for and the operator's API types from open-feature-operator/apis v0.2.44 for api v0.2.47, which the Go module proxy does not serve (see bench/flagd-server/build.ts). flagd opens its ports on every interface, so both servers and the load generators run in a private network namespace whose only interface is loopback (bench/private-network.ts). The Flagwright sidecar runs with its defaults (Prometheus counters per evaluation, first-exposure tracking).`,
      "Same flags, same answers where no hashing is involved (static, disabled, killed, allow-listed); rollout and variant splits have the same shares but bucket users differently (flagd: murmur3, Flagwright: sha256), see test/unit/bench/flagd-translate.test.ts.",
    ];
    // The idle rows are not pinned; the SSE rows pin afresh (measureSse).
    restoreAffinity();
    const idle = await measureIdle([sidecar, flagd, bareNode], mix, smoke);
    figures.push(...idle);
    const sidecarIdle = idle
      .filter((f) => f.name.startsWith(`${sidecar.label}: resident memory idle, `))
      .map((f) => ({ name: f.name.slice(sidecar.label.length + 2), mib: summarize(f.samples).median }));
    if (sidecarIdle.length > 0) {
      const worst = Math.max(...sidecarIdle.map((f) => f.mib));
      notes.push(
        `Idle RSS target ≤ 50 MiB: ${sidecarIdle.map((f) => `${f.name} ${formatNumber(f.mib)} MiB`).join("; ")}: ${worst <= 50 ? "met" : "missed"}.`,
      );
    }
    notes.push(
      `Idle rows: each server alone, resident memory 1 s after it is ready, then 1 s after ${smoke ? "300" : "3,000"} sequential requests of the same mix (${smoke ? "1 round" : "3 rounds, alternating the order"}). The second is what a pod shows once it has served traffic: V8's optimizing compiler has then run, and its code pages in the node binary count in the RSS. The bare Node server (node:http, JSON in, JSON out, the sidecar's V8 options) is Node's own floor.`,
    );
    // Pins itself: the sidecar on the server CPU, this process (the streams' client) on the other.
    const sse = await measureSse(sidecarMain, dir, smoke, pinning);
    figures.push(...sse.figures);
    notes.push(...sse.notes);
    return { figures, ratios, notes };
  } finally {
    restoreAffinity();
    await rm(dir, { recursive: true, force: true });
  }
}
