// One shared evaluator (`flagwright sidecar` as the chart's Deployment runs it: V8 defaults, a
// bearer token) serving the traffic of N pods, against N injected sidecars (the webhook's V8
// options) serving one pod's traffic each: the same flags, the same request mix, the same total
// rate, every pod on its own keep-alive connection, all servers on the server CPU. What the shared
// evaluator saves in memory, and what it costs in CPU and latency. Both setups stay up through the
// run (an idle sidecar costs next to no CPU) and take turns in slices A B B A, so that a change in
// the machine's load weighs on both alike.
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { setTimeout as settle } from "node:timers/promises";
import autocannon from "autocannon";
import { describeSidecarOptions, startFileSidecar } from "./deployed.js";
import type { OfrepServerProcess } from "./flagd/process.js";
import { ensureLoadgenBinary, type LoadgenReport, runLoadgen } from "./loadgen/build.js";
import { cpuPinning } from "./pinning.js";
import { cpuMs, loadAverage, memoryMiB } from "./proc.js";
import { benchDocument, buildSidecar, requestMix } from "./sidecar-vs-flagd.bench.js";
import { type BenchResult, type Figure, formatNumber, type RatioRow } from "./stats.js";

export const name = "shared-evaluator";
export const description =
  "One shared evaluator (the bundled `flagwright sidecar --file … --auth-token-file …`, V8 defaults, as " +
  "the chart's shared-evaluator Deployment runs it, `--file` in place of `--configmap`) serving N pods' " +
  "traffic, against N injected sidecars (`sidecar --file`, the injection webhook's V8 options) serving " +
  "one pod's each. The 50 flags and 1,000 (flag, user) pairs of sidecar-vs-flagd; each pod sends a fixed " +
  "rate (SHARED_EVALUATOR_POD_RATE, default 20 req/s) of single-flag POSTs over its own keep-alive " +
  "connection (bench/loadgen, open loop, one client per pod); every server on the server CPU. " +
  "Ratios are shared evaluator ÷ N sidecars.";

// SHARED_EVALUATOR_PIN=0 turns pinning off.
const pinning = cpuPinning("SHARED_EVALUATOR_PIN");

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
const summedCpuMs = (servers: readonly OfrepServerProcess[]) => sum(servers.map((s) => cpuMs(s.pid)));
/** RssAnon (/proc/PID/status): the resident anonymous memory, private to the process (heap, JIT code, stacks). */
function anonMiB(pid: number): number {
  const match = /^RssAnon:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

interface Memory {
  /** VmRSS, summed over the processes. */
  rss: number;
  /** VmHWM (each process's peak so far), summed. */
  peak: number;
  /** RssAnon, summed: the part of the RSS no other process shares (file pages left out). */
  anon: number;
}

function memoryOf(servers: readonly OfrepServerProcess[]): Memory {
  return {
    rss: sum(servers.map((s) => memoryMiB(s.pid, "VmRSS"))),
    peak: sum(servers.map((s) => memoryMiB(s.pid, "VmHWM"))),
    anon: sum(servers.map((s) => anonMiB(s.pid))),
  };
}

/** `count` servers from `start`, at most `parallel` starting at once; all stopped if one fails. */
async function startMany(
  count: number,
  parallel: number,
  start: () => Promise<OfrepServerProcess>,
): Promise<OfrepServerProcess[]> {
  const servers: OfrepServerProcess[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      servers.push(await start());
    }
  };
  const started = await Promise.allSettled(Array.from({ length: Math.min(parallel, count) }, worker));
  const failure = started.find((r) => r.status === "rejected");
  if (failure) {
    await Promise.all(servers.map((s) => s.stop()));
    throw failure.reason;
  }
  return servers;
}

interface FixedRun {
  report: LoadgenReport;
  /** The servers' summed CPU over the run. */
  cpuMs: number;
  wallMs: number;
}

/** A setup under test: its processes and the loadgen options that send it the N pods' traffic. */
interface Setup {
  label: string;
  servers: OfrepServerProcess[];
  load: { requestsFile: string; url?: string; rate: number; clients: number; headers?: string[] };
}

/** Open loop (bench/loadgen): one client per pod, each at the per-pod rate on one connection. */
async function fixedRate(loadgen: string, setup: Setup, seconds: number): Promise<FixedRun> {
  const cpuBefore = summedCpuMs(setup.servers);
  const started = performance.now();
  const report = await runLoadgen(loadgen, { ...setup.load, seconds, connections: 1 });
  const wallMs = performance.now() - started;
  return { report, cpuMs: summedCpuMs(setup.servers) - cpuBefore, wallMs };
}

/**
 * A setup's slices as one run: counts and CPU summed, the latency quantiles averaged over the
 * slices (equal in length and rate, as sidecar-vs-flagd combines its slices), max the largest.
 */
function combine(slices: readonly FixedRun[]): FixedRun {
  const total = (pick: (r: FixedRun) => number) => sum(slices.map(pick));
  const mean = (pick: (r: LoadgenReport) => number) => total((r) => pick(r.report)) / slices.length;
  return {
    report: {
      requests: total((r) => r.report.requests),
      rate: mean((r) => r.rate),
      failed: total((r) => r.report.failed),
      p50Ms: mean((r) => r.p50Ms),
      p90Ms: mean((r) => r.p90Ms),
      p99Ms: mean((r) => r.p99Ms),
      p999Ms: mean((r) => r.p999Ms),
      maxMs: Math.max(...slices.map((r) => r.report.maxMs)),
      errors: slices.flatMap((r) => r.report.errors ?? []),
    },
    cpuMs: total((r) => r.cpuMs),
    wallMs: total((r) => r.wallMs),
  };
}

const answered = (r: LoadgenReport) => r.requests - r.failed;
/** Requests answered per second of the servers' CPU. */
const perCpuSecond = (run: FixedRun) =>
  run.cpuMs > 0 ? answered(run.report) / (run.cpuMs / 1000) : Number.NaN;

interface Saturation {
  rps: number;
  perCpuSecond: number;
  p99: number;
  failed: number;
  serverCpu: number;
}

/** Closed loop (autocannon, as sidecar-vs-flagd's saturation): `connections` connections. */
async function saturate(
  server: OfrepServerProcess,
  requests: autocannon.Request[],
  connections: number,
  seconds: number,
): Promise<Saturation> {
  const cpuBefore = cpuMs(server.pid);
  const started = performance.now();
  const result = await autocannon({ url: server.url, connections, duration: seconds, requests });
  const wallMs = performance.now() - started;
  const cpu = cpuMs(server.pid) - cpuBefore;
  const total = result.requests.total;
  return {
    rps: total / result.duration,
    perCpuSecond: cpu > 0 ? total / (cpu / 1000) : Number.NaN,
    p99: result.latency.p99,
    failed: result.errors + result.timeouts + result.non2xx,
    serverCpu: cpu / wallMs,
  };
}

interface SetupResult {
  fixed: FixedRun;
  slices: FixedRun[];
  idle: Memory;
  /** Summed CPU per second while idle, before any traffic. */
  idleCpuMsPerSecond: number;
  /** After the last slice. */
  after: Memory;
}

interface Results {
  shared: SetupResult;
  sidecars: SetupResult;
  saturation: Saturation;
  peakAfterSaturationMiB: number;
  unauthorizedStatus: number;
  startSeconds: number;
}

const describeRun = (run: FixedRun) =>
  `p50 ${formatNumber(run.report.p50Ms)} ms, p99 ${formatNumber(run.report.p99Ms)} ms, max ${formatNumber(run.report.maxMs)} ms, ` +
  `${formatNumber(run.report.rate)} req/s sent, ${run.report.failed} failed, ${formatNumber(perCpuSecond(run))} req per CPU-s`;

const describeMemory = (m: Memory) =>
  `RSS ${formatNumber(m.rss)} MiB, peak ${formatNumber(m.peak)} MiB, anonymous ${formatNumber(m.anon)} MiB`;

interface Plan {
  pods: number;
  rate: number;
  seconds: {
    warmup: number;
    run: number;
    saturationWarmup: number;
    saturation: number;
    idle: number;
    idleSettle: number;
  };
  loadgen: string;
  main: string;
  dir: string;
  file: string;
  mix: ReturnType<typeof requestMix>;
}

/** The shared evaluator as the chart runs it (V8 defaults, a bearer token), `--file` for `--configmap`. */
async function startShared(plan: Plan, tokenFile: string): Promise<OfrepServerProcess> {
  return startFileSidecar({
    main: plan.main,
    file: plan.file,
    v8Options: [],
    args: ["--auth-token-file", tokenFile, "--public-url", "http://flagwright-evaluator.bench.svc:8016"],
    pinning,
  });
}

/** The N injected sidecars (the webhook's V8 options), 4 starting at a time. */
async function startSidecars(plan: Plan): Promise<OfrepServerProcess[]> {
  return startMany(plan.pods, 4, () => startFileSidecar({ main: plan.main, file: plan.file, pinning }));
}

/** Status of a request without the bearer token (the evaluator must answer 401). */
async function statusWithoutToken(url: string, plan: Plan): Promise<number> {
  const probe = plan.mix[0] as (typeof plan.mix)[number];
  const res = await fetch(url + probe.path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: probe.body,
  });
  await res.arrayBuffer();
  return res.status;
}

/** Both setups idle: summed CPU per second over the idle window, then memory. */
async function measureIdle(plan: Plan, setups: readonly Setup[]) {
  await settle(plan.seconds.idleSettle * 1000);
  const before = setups.map((s) => summedCpuMs(s.servers));
  const started = performance.now();
  await settle(plan.seconds.idle * 1000);
  const wall = performance.now() - started;
  return setups.map((s, i) => ({
    cpuMsPerSecond: ((summedCpuMs(s.servers) - (before[i] as number)) * 1000) / wall,
    memory: memoryOf(s.servers),
  }));
}

/** Warm-up of each, then slices A B B A at the fixed rate. */
async function measureFixed(plan: Plan, shared: Setup, sidecars: Setup): Promise<Map<Setup, FixedRun[]>> {
  for (const setup of [shared, sidecars]) {
    console.log(`  ${setup.label}: warm-up, ${plan.seconds.warmup} s at ${plan.rate} req/s`);
    await fixedRate(plan.loadgen, setup, plan.seconds.warmup);
  }
  const slices = new Map<Setup, FixedRun[]>([
    [shared, []],
    [sidecars, []],
  ]);
  for (const setup of [shared, sidecars, sidecars, shared]) {
    const slice = await fixedRate(plan.loadgen, setup, plan.seconds.run / 2);
    slices.get(setup)?.push(slice);
    console.log(
      `  ${setup.label}, slice of ${plan.seconds.run / 2} s at ${plan.rate} req/s: ${describeRun(slice)} (load average ${loadAverage()})`,
    );
  }
  return slices;
}

async function measure(plan: Plan): Promise<Results> {
  const token = randomBytes(24).toString("hex");
  const tokenFile = join(plan.dir, "token");
  writeFileSync(tokenFile, `${token}\n`);
  const running: OfrepServerProcess[] = [];
  try {
    const evaluator = await startShared(plan, tokenFile);
    running.push(evaluator);
    const unauthorizedStatus = await statusWithoutToken(evaluator.url, plan);
    const t0 = performance.now();
    const pods = await startSidecars(plan);
    running.push(...pods);
    const startSeconds = (performance.now() - t0) / 1000;
    console.log(
      `  shared evaluator and ${plan.pods} sidecars started (the sidecars in ${formatNumber(startSeconds)} s)`,
    );

    const sharedRequests = join(plan.dir, "requests-shared.json");
    writeFileSync(sharedRequests, JSON.stringify(plan.mix));
    // Entry j goes to sidecar j mod pods, and loadgen's client i sends entries i, i + pods…: one
    // pod, one connection, one sidecar. The shared evaluator gets the same pods' streams.
    const sidecarRequests = join(plan.dir, "requests-sidecars.json");
    writeFileSync(
      sidecarRequests,
      JSON.stringify(
        plan.mix.map((r, j) => ({ ...r, url: (pods[j % pods.length] as OfrepServerProcess).url })),
      ),
    );
    const shared: Setup = {
      label: "shared evaluator",
      servers: [evaluator],
      load: {
        requestsFile: sharedRequests,
        url: evaluator.url,
        rate: plan.rate,
        clients: plan.pods,
        headers: [`Authorization: Bearer ${token}`],
      },
    };
    const sidecars: Setup = {
      label: `${plan.pods} sidecars`,
      servers: pods,
      load: { requestsFile: sidecarRequests, rate: plan.rate, clients: plan.pods },
    };
    const [sharedIdle, sidecarsIdle] = await measureIdle(plan, [shared, sidecars]);
    for (const [setup, idle] of [
      [shared, sharedIdle],
      [sidecars, sidecarsIdle],
    ] as const) {
      console.log(
        `  ${setup.label} idle: ${describeMemory(idle?.memory as Memory)}${setup === sidecars ? " (summed)" : ""}, ${formatNumber(idle?.cpuMsPerSecond ?? Number.NaN)} CPU ms/s`,
      );
    }

    const slices = await measureFixed(plan, shared, sidecars);
    const result = (setup: Setup, idle: typeof sharedIdle): SetupResult => {
      const runs = slices.get(setup) ?? [];
      return {
        fixed: combine(runs),
        slices: runs,
        idle: idle?.memory as Memory,
        idleCpuMsPerSecond: idle?.cpuMsPerSecond ?? Number.NaN,
        after: memoryOf(setup.servers),
      };
    };
    const sharedResult = result(shared, sharedIdle);
    const sidecarsResult = result(sidecars, sidecarsIdle);
    for (const [setup, r] of [
      [shared, sharedResult],
      [sidecars, sidecarsResult],
    ] as const) {
      console.log(
        `  ${setup.label} after the slices: ${describeMemory(r.after)}${setup === sidecars ? " (summed)" : ""}`,
      );
    }

    const requests: autocannon.Request[] = plan.mix.map((r) => ({
      ...r,
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    }));
    await saturate(evaluator, requests, plan.pods, plan.seconds.saturationWarmup);
    const saturation = await saturate(evaluator, requests, plan.pods, plan.seconds.saturation);
    const peakAfterSaturationMiB = memoryMiB(evaluator.pid, "VmHWM");
    console.log(
      `  shared evaluator at saturation (${plan.pods} connections): ${formatNumber(saturation.rps)} req/s, ` +
        `${formatNumber(saturation.perCpuSecond)} req per CPU-s, ${formatNumber(saturation.serverCpu * 100)} % of a core, ` +
        `p99 ${formatNumber(saturation.p99)} ms, ${saturation.failed} failed; peak RSS ${formatNumber(peakAfterSaturationMiB)} MiB ` +
        `(load average ${loadAverage()})`,
    );
    return {
      shared: sharedResult,
      sidecars: sidecarsResult,
      saturation,
      peakAfterSaturationMiB,
      unauthorizedStatus,
      startSeconds,
    };
  } finally {
    await Promise.all(running.map((s) => s.stop()));
  }
}

export async function run({ smoke }: { smoke: boolean }): Promise<BenchResult> {
  const pods = smoke ? 5 : Number(process.env.SHARED_EVALUATOR_PODS) || 50;
  const podRate = Number(process.env.SHARED_EVALUATOR_POD_RATE) || 20;
  const seconds = smoke
    ? { warmup: 0.5, run: 1, saturationWarmup: 0.5, saturation: 1, idle: 0.5, idleSettle: 0.5 }
    : {
        warmup: Number(process.env.SHARED_EVALUATOR_WARMUP) || 10,
        run: 20,
        saturationWarmup: 3,
        saturation: 10,
        idle: 10,
        idleSettle: 10,
      };
  const loadgen = await ensureLoadgenBinary((line) => console.log(`  [loadgen] ${line}`));
  const build = buildSidecar();
  const dir = await mkdtemp(join(os.tmpdir(), "flagwright-shared-evaluator-"));
  const loadAtStart = loadAverage();
  const restoreAffinity = pinning.pinSelf();
  try {
    const doc = benchDocument();
    const file = join(dir, "flags.json");
    writeFileSync(file, JSON.stringify(doc));
    const plan: Plan = {
      pods,
      rate: pods * podRate,
      seconds,
      loadgen,
      main: build.main,
      dir,
      file,
      mix: requestMix(doc),
    };
    return report(plan, await measure(plan), loadAtStart);
  } finally {
    restoreAffinity();
    build.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

function report(plan: Plan, results: Results, loadAtStart: string): BenchResult {
  const { pods, rate } = plan;
  const { shared, sidecars, saturation } = results;
  const S = "shared evaluator";
  const N = `${pods} sidecars`;
  const one = (name: string, unit: string, value: number, note?: string): Figure => ({
    name,
    unit,
    samples: [value],
    ...(note && { note }),
  });
  const runRows = (label: string, r: SetupResult): Figure[] => [
    one(`${label}: p50 latency at ${rate} req/s`, "ms", r.fixed.report.p50Ms),
    one(`${label}: p99 latency at ${rate} req/s`, "ms", r.fixed.report.p99Ms),
    one(`${label}: p99.9 latency at ${rate} req/s`, "ms", r.fixed.report.p999Ms),
    one(`${label}: max latency at ${rate} req/s`, "ms", r.fixed.report.maxMs),
    one(`${label}: requests per CPU-second at ${rate} req/s`, "req/CPU-s", perCpuSecond(r.fixed)),
    one(`${label}: CPU use at ${rate} req/s`, "% of a core", (r.fixed.cpuMs / r.fixed.wallMs) * 100),
    one(`${label}: rate sent`, "req/s", r.fixed.report.rate),
    one(`${label}: failed requests`, "requests", r.fixed.report.failed),
  ];
  const memoryRows = (label: string, r: SetupResult, summed: string): Figure[] => [
    one(`${label}: resident memory idle, before traffic${summed}`, "MiB", r.idle.rss),
    one(`${label}: resident memory after the run${summed}`, "MiB", r.after.rss),
    one(`${label}: peak resident memory (VmHWM)${summed}`, "MiB", r.after.peak),
    one(`${label}: anonymous resident memory (RssAnon) after the run${summed}`, "MiB", r.after.anon),
    one(`${label}: CPU while idle${summed}`, "CPU ms/s", r.idleCpuMsPerSecond),
  ];
  const figures: Figure[] = [
    ...runRows(S, shared),
    ...memoryRows(S, shared, ""),
    one(`${S}: requests/s at saturation (${pods} connections)`, "req/s", saturation.rps),
    one(`${S}: requests per CPU-second at saturation`, "req/CPU-s", saturation.perCpuSecond),
    one(`${S}: CPU use at saturation`, "% of a core", saturation.serverCpu * 100),
    one(`${S}: p99 latency at saturation`, "ms", saturation.p99),
    one(`${S}: failed requests at saturation`, "requests", saturation.failed),
    one(`${S}: peak resident memory after saturation`, "MiB", results.peakAfterSaturationMiB),
    ...runRows(N, sidecars),
    ...memoryRows(N, sidecars, ", summed"),
  ];
  const ratio = (name: string, a: number, b: number, note: string): RatioRow => ({
    name,
    samples: [a / b],
    note,
  });
  const less = "below 1: the shared evaluator takes less memory";
  const ratios: RatioRow[] = [
    ratio(`resident memory after the run: ${S} ÷ ${N} summed`, shared.after.rss, sidecars.after.rss, less),
    ratio(`peak resident memory: ${S} ÷ ${N} summed`, shared.after.peak, sidecars.after.peak, less),
    ratio(`anonymous resident memory: ${S} ÷ ${N} summed`, shared.after.anon, sidecars.after.anon, less),
    ratio(
      `requests per CPU-second at ${rate} req/s: ${S} ÷ ${N}`,
      perCpuSecond(shared.fixed),
      perCpuSecond(sidecars.fixed),
      "above 1: the shared evaluator does more per CPU",
    ),
    ratio(
      `p99 latency at ${rate} req/s: ${S} ÷ ${N}`,
      shared.fixed.report.p99Ms,
      sidecars.fixed.report.p99Ms,
      "below 1: the shared evaluator answers faster (on loopback: no network hop counted)",
    ),
  ];
  const held = [shared, sidecars].every((r) => r.slices.every((s) => s.report.rate >= rate * 0.95));
  const sliceP99s = (r: SetupResult) =>
    r.slices.map((s) => `${formatNumber(s.report.p99Ms)} ms`).join(" and ");
  const notes = [
    `Machine: ${os.cpus().length} cores; load average ${loadAtStart} at the start of this benchmark, ${loadAverage()} at the end (other work on the machine makes every figure noisier; the ${pods} sidecars' own runnable processes count in it too).`,
    `${pinning.describe()} All ${pods} sidecars share the server CPU, as ${pods} pods on one node would share its cores; so does the shared evaluator.`,
    `The shared evaluator ran with V8's defaults (no NODE_OPTIONS, no V8 options: the chart's shared-evaluator Deployment sets none), with --auth-token-file (every request carries Authorization: Bearer <token>; without it the evaluator answered ${results.unauthorizedStatus}) and --public-url, on 127.0.0.1 rather than 0.0.0.0. With no container memory limit here V8 sizes its heap from the machine's ${formatNumber(os.totalmem() / 2 ** 30)} GiB; under the chart's 192 Mi limit it would size it from that, and could hold less.`,
    `${describeSidecarOptions()} All ${pods} sidecars ran so.`,
    `Traffic: ${pods} pods × ${rate / pods} req/s (SHARED_EVALUATOR_POD_RATE; SHARED_EVALUATOR_PODS sets the pods) = ${rate} req/s, open loop (bench/loadgen -clients ${pods} -connections 1: each pod its own client and keep-alive connection, the pods' sends interleaved so the total is evenly spaced); the sidecars' pod i sends its share of the mix (entries i, i+${pods}, …) to sidecar i, and the shared evaluator gets the same ${pods} streams. Both setups run through the whole benchmark; ${plan.seconds.warmup} s warm-up at the rate for each (SHARED_EVALUATOR_WARMUP), then slices of ${plan.seconds.run / 2} s in the order A B B A (each setup's p50, p99 and p99.9 are the mean of its two slices, max the larger; p99 per slice: ${S} ${sliceP99s(shared)}, ${N} ${sliceP99s(sidecars)}); ${held ? "the rate was held in every slice" : "the rate was NOT held in every slice"}. Each loadgen run opens its connections afresh, so the first request of each pod in a slice includes a TCP connect.`,
    `Requests per CPU-second = answered requests ÷ the servers' user+system CPU over the slices (/proc), for the sidecars summed over the ${pods} processes, so including what each costs idle (see the idle CPU rows: ${plan.seconds.idle} s from ${plan.seconds.idleSettle} s after the last sidecar was ready, before any traffic). Saturation (shared evaluator only, after the slices): autocannon, closed loop, ${pods} connections, ${plan.seconds.saturationWarmup} s warm-up then ${plan.seconds.saturation} s, the generator in this process on the other CPU.`,
    `Memory: idle rows at the end of the idle window; RSS and RssAnon read after the last slice (before saturation); VmHWM is the peak of each process's life so far. For the sidecars, summed over the ${pods} (they took ${formatNumber(results.startSeconds)} s to start, 4 at a time, on the one CPU). Summed RSS counts the file pages the processes share on this machine (the node binary, the bundle) once per process, as adding up the pods' memory does; RssAnon leaves file pages out: the heap, JIT code and stacks each process holds for itself.`,
    "Not counted here, and against the shared evaluator: in a cluster every evaluation crosses the pod network to the evaluator's Service (a network hop, kube-proxy or the CNI, and the NetworkPolicy) where the injected sidecar answers on the pod's loopback; here both are on loopback. The shared evaluator's p99 is one process's queue: all pods' requests wait behind each other in one event loop, where each sidecar's queue holds one pod's requests (but the sidecars queue for the one CPU instead). The chart runs 2 replicas (sharedEvaluator.replicas), which doubles its memory and splits its traffic.",
    "Also not counted: the shared evaluator watches its ConfigMap (--configmap), which loads the Kubernetes client (the sidecar's own comment puts it near 70 MiB) once; the injected sidecars read a mounted file by default (--file, as here) and pay it per pod only when annotated to watch.",
  ];
  return { figures, ratios, notes };
}
