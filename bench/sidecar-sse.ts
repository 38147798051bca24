// The SSE rows of `npm run bench -- sidecar-vs-flagd` (sidecar only: the flagd build compared
// with has no event stream): document change -> refetchEvaluation at one connected client, the
// same at every stream with 1,000 and then 10,000 streams open (fan-out), and what those idle
// streams cost in resident memory. Measured for each V8 option set the product starts the sidecar
// with: the injected container's (the injection webhook's command) and the shared evaluator's
// (the chart's Deployment: V8's defaults). The sidecar runs on the server CPU, this process (the
// client, bench/sse-fanout-client.ts) on the other.
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as settle } from "node:timers/promises";
import { buildDocument } from "../src/core/index.js";
import { SIDECAR_V8_OPTIONS, startFileSidecar } from "./deployed.js";
import type { OfrepServerProcess } from "./flagd/process.js";
import { GENERATOR_CPU, type Pinning, SERVER_CPU } from "./pinning.js";
import { cpuMs, memoryMiB } from "./proc.js";
import { serveSequentially } from "./sidecar-idle.js";
import { SseFanOutClient } from "./sse-fanout-client.js";
import { type Figure, formatNumber } from "./stats.js";

/** A way the product starts the sidecar: the V8 options in its command. */
interface OptionSet {
  label: string;
  options: readonly string[];
  /** Its deployment's container memory limit (MiB), which RSS is held against. */
  limitMiB: number;
  /** Stream counts measured, ascending (full run; the smoke run scales them down). */
  streams: readonly number[];
}

const OPTION_SETS: readonly OptionSet[] = [
  {
    label:
      process.env.BENCH_SIDECAR_V8_OPTIONS === undefined
        ? "injected options"
        : `BENCH_SIDECAR_V8_OPTIONS "${SIDECAR_V8_OPTIONS.join(" ")}"`,
    options: SIDECAR_V8_OPTIONS,
    limitMiB: 128, // src/operator/injection/mutation.ts: resources.limits.memory
    // Its own app's clients only, up to its default --max-event-streams: 10,000 streams do not fit
    // its 64 MiB old space (V8 ran out of heap in 2 of 3 runs) or its 128 Mi limit (RSS 129 - 131 MiB).
    streams: [1000],
  },
  // charts/flagwright/templates/shared-evaluator.yaml: `sidecar` with no V8 options.
  { label: "shared evaluator (V8 defaults)", options: [], limitMiB: 192, streams: [1000, 10_000] },
];

const count = (n: number) => n.toLocaleString("en");

export interface SseResult {
  figures: Figure[];
  notes: string[];
}

export async function measureSse(
  main: string,
  dir: string,
  smoke: boolean,
  pinning: Pinning,
): Promise<SseResult> {
  const file = join(dir, "sse-flags.json");
  let version = 0;
  // A new document per change, swapped in by rename as the kubelet does.
  const change = () => {
    version += 1;
    const doc = buildDocument("bench", {
      banner: {
        enabled: true,
        killed: false,
        percent: version % 100,
        allowedUsers: [],
        revision: `v${version}`,
      },
    });
    writeFileSync(`${file}.tmp`, JSON.stringify(doc));
    renameSync(`${file}.tmp`, file);
  };
  change();
  const plan: Plan = {
    main,
    file,
    change,
    scale: smoke ? 0.02 : 1,
    requests: smoke ? 300 : 3000,
    singleChanges: smoke ? 5 : 50,
    rounds: smoke ? 1 : 5,
    settleMs: smoke ? 300 : 2000,
    pinning,
  };
  const restoreAffinity = plan.pinning.pinSelf();
  const figures: Figure[] = [];
  const notes: string[] = [];
  try {
    for (const set of OPTION_SETS) {
      const result = await measureOptionSet(plan, set);
      figures.push(...result.figures);
      notes.push(...result.notes);
    }
  } finally {
    restoreAffinity();
  }
  const counts = (set: OptionSet) => streamCounts(plan, set).map(count).join(" and ");
  notes.unshift(
    `SSE rows (sidecar only; flagd's OFREP service has no event stream, its change events go over gRPC): a document swapped in by rename, as the kubelet does, to the refetchEvaluation event at clients of GET /ofrep/v1/events, for each V8 option set the product starts the sidecar with: "${OPTION_SETS[0]?.label}" (${SIDECAR_V8_OPTIONS.join(" ") || "none"}, the injection webhook's command) and "shared evaluator (V8 defaults)" (charts/flagwright/templates/shared-evaluator.yaml runs \`sidecar\` with no V8 options; here with --file, not its --configmap, and without its bearer token). Each: ${count(plan.requests)} requests first, RSS ${formatNumber(plan.settleMs / 2000)} s later (no stream open); one stream, ${plan.singleChanges} changes; then ${OPTION_SETS.map((set) => `${counts(set)} streams open (${set.label})`).join(", ")}, RSS ${formatNumber(plan.settleMs / 1000)} s after they are open and ${plan.rounds} change round(s) at each, every stream's arrival a sample (n = streams × rounds). ${plan.pinning.on ? `The sidecar runs on CPU ${SERVER_CPU} (taskset from its start), this process, the client, on CPU ${GENERATOR_CPU}.` : "Not pinned: the client and the sidecar share the CPUs."} Arrival is stamped in the client's read callback (bench/sse-fanout-client.ts: a bare node:net socket per stream reading into one shared buffer, no HTTP parser, no polling; about 2 KiB of heap per stream, against about 8 KiB for test/support/sse.ts's node:http client), so the last streams' times include this process reading the earlier ones: its CPU per change round is in the notes below.`,
    `Stream limits: the sidecar serves at most --max-event-streams (default 1,000) streams and --max-connections (default 4,096) connections, and neither the injection webhook nor the chart's shared evaluator raises them: beyond 1,000 streams a deployed sidecar answers 503 (the client keeps polling). These rows raise both (to the largest stream count + 10 and + 100) to measure what the streams cost. The injected sidecar serves its own pod's app, so it is measured up to its default of 1,000; 10,000 streams are the shared evaluator's case (an injected sidecar forced to 10,000 ran out of its 64 MiB V8 old space in 2 of 3 runs, and its RSS passed its container's 128 Mi).`,
  );
  return { figures, notes };
}

interface Plan {
  main: string;
  file: string;
  change: () => void;
  /** The share of each option set's stream counts to measure (the smoke run's is small). */
  scale: number;
  requests: number;
  singleChanges: number;
  rounds: number;
  /** Quiet time before reading RSS: after the requests, and after opening streams. */
  settleMs: number;
  pinning: Pinning;
}

/** One sidecar under measurement, and what the steps learn about it. */
interface Run {
  plan: Plan;
  set: OptionSet;
  server: OfrepServerProcess;
  client: SseFanOutClient;
  prefix: string;
  /** The last 4,000 characters of its stderr. */
  stderr: string;
  idleRss: number;
  /** Highest VmHWM read while it ran. */
  peakRss: number;
  rss: Map<number, number>;
  figures: Figure[];
  notes: string[];
}

/** The stream counts to measure for `set` in this run. */
function streamCounts(plan: Plan, set: OptionSet): number[] {
  return set.streams.map((n) => Math.max(10, Math.round(n * plan.scale)));
}

async function measureOptionSet(plan: Plan, set: OptionSet): Promise<SseResult> {
  const streamsMeasured = streamCounts(plan, set);
  const most = Math.max(...streamsMeasured);
  const server = await startFileSidecar({
    main: plan.main,
    file: plan.file,
    v8Options: set.options,
    args: ["--max-event-streams", String(most + 10), "--max-connections", String(most + 100)],
    pinning: plan.pinning,
  });
  const run: Run = {
    plan,
    set,
    server,
    client: new SseFanOutClient(`${server.url}/ofrep/v1/events`),
    prefix: `Flagwright sidecar, ${set.label}`,
    stderr: "",
    idleRss: Number.NaN,
    peakRss: Number.NaN,
    rss: new Map(),
    figures: [],
    notes: [],
  };
  server.child.stderr?.on("data", (d) => {
    run.stderr = (run.stderr + d).slice(-4000);
  });
  try {
    await measureIdleAndSingle(run);
    for (const streams of streamsMeasured) if (!(await measureStreams(run, streams))) break;
    const [few, many] = streamsMeasured;
    const rssFew = few === undefined ? undefined : run.rss.get(few);
    const rssMany = many === undefined ? undefined : run.rss.get(many);
    if (few !== undefined && many !== undefined && rssFew !== undefined && rssMany !== undefined) {
      run.figures.push({
        name: `${run.prefix}: resident memory per additional idle stream, ${count(few)} -> ${count(many)} streams`,
        unit: "KiB",
        samples: [((rssMany - rssFew) * 1024) / (many - few)],
        computed: true,
        note: `(RSS with ${count(many)} − RSS with ${count(few)}) ÷ ${count(many - few)}: the per-stream cost without the fixed cost of the first streams`,
      });
      const slopeMiB = (rssMany - rssFew) / (many - few);
      run.notes.push(
        `${run.prefix}: at that slope, RSS reaches the container's ${set.limitMiB} Mi limit at about ${count(Math.round((set.limitMiB - rssFew) / slopeMiB / 100) * 100 + few)} idle streams.`,
      );
    }
    readPeak(run);
    run.figures.push({
      name: `${run.prefix}: peak resident memory over the SSE rows${alive(server) ? "" : " (last read before it died)"}`,
      unit: "MiB",
      samples: [run.peakRss],
    });
    return { figures: run.figures, notes: run.notes };
  } finally {
    run.client.closeAll();
    await server.stop();
  }
}

/** RSS once it has served traffic, with no stream open; then a change to one stream, repeatedly. */
async function measureIdleAndSingle(run: Run): Promise<void> {
  const { plan, server, client, prefix } = run;
  // Served traffic first, so that the optimizing compiler's code pages, which the first requests
  // bring in, are not counted as the streams' memory.
  const body = JSON.stringify({ context: { targetingKey: "user-1" } });
  await serveSequentially(server.url, [{ path: "/ofrep/v1/evaluate/flags/banner", body }], plan.requests);
  await settle(plan.settleMs / 2);
  run.idleRss = memoryMiB(server.pid, "VmRSS");
  run.figures.push({
    name: `${prefix}: resident memory after ${count(plan.requests)} requests, no stream open`,
    unit: "MiB",
    samples: [run.idleRss],
  });
  await client.openUpTo(1);
  const single: number[] = [];
  for (let i = 0; i < plan.singleChanges; i++) {
    single.push(...(await client.nextEvent(plan.change, 10_000)));
  }
  run.figures.push({
    name: `${prefix}: document change -> SSE event at one connected client`,
    unit: "ms",
    samples: single,
    stat: "percentiles",
  });
}

/**
 * Opens streams up to `streams`, reads RSS once they are idle, then times change rounds. Returns
 * false (with a note saying how far it got and why) when the sidecar could not serve them.
 */
async function measureStreams(run: Run, streams: number): Promise<boolean> {
  const { plan, server, client, prefix, set } = run;
  const opening = performance.now();
  try {
    await client.openUpTo(streams);
  } catch (err) {
    await didNotFit(run, streams, "while the streams opened", err, []);
    return false;
  }
  const openedIn = performance.now() - opening;
  await settle(plan.settleMs);
  if (!alive(server)) {
    await didNotFit(run, streams, "while the streams were idle", undefined, []);
    return false;
  }
  const withStreams = memoryMiB(server.pid, "VmRSS");
  readPeak(run);
  run.rss.set(streams, withStreams);
  run.figures.push(
    {
      name: `${prefix}: resident memory, ${count(streams)} idle streams open`,
      unit: "MiB",
      samples: [withStreams],
      ...(withStreams > set.limitMiB && { note: `over the container's ${set.limitMiB} Mi limit` }),
    },
    {
      name: `${prefix}: resident memory per idle stream, ${count(streams)} streams`,
      unit: "KiB",
      samples: [((withStreams - run.idleRss) * 1024) / streams],
      computed: true,
      note: `(RSS with ${count(streams)} streams − RSS with none) ÷ ${count(streams)}`,
    },
  );
  const fanOut: number[] = [];
  const serverCpu = cpuMs(server.pid);
  const clientCpu = process.cpuUsage();
  try {
    for (let round = 0; round < plan.rounds; round++) {
      fanOut.push(...(await client.nextEvent(plan.change, 30_000)));
      readPeak(run);
      await settle(200);
    }
  } catch (err) {
    await didNotFit(run, streams, `in change round ${fanOut.length / streams + 1}`, err, fanOut);
    return false;
  }
  const perRound = (ms: number) => formatNumber(ms / plan.rounds);
  const clientUsed = process.cpuUsage(clientCpu);
  run.figures.push({
    name: `${prefix}: document change -> SSE event, ${count(streams)} streams open (each stream's arrival)`,
    unit: "ms",
    samples: fanOut,
    stat: "percentiles",
  });
  run.notes.push(
    `${prefix}, ${count(streams)} streams: opened in ${formatNumber(openedIn / 1000)} s (64 at a time); RSS ${formatNumber(withStreams)} MiB idle (container limit ${set.limitMiB} Mi); CPU per change round (with 200 ms of quiet after it): sidecar ${perRound(cpuMs(server.pid) - serverCpu)} ms, client ${perRound((clientUsed.user + clientUsed.system) / 1000)} ms.`,
  );
  return true;
}

const alive = (server: OfrepServerProcess) =>
  server.child.exitCode === null && server.child.signalCode === null;

function readPeak(run: Run): void {
  if (!alive(run.server)) return;
  const hwm = memoryMiB(run.server.pid, "VmHWM");
  if (!(hwm <= run.peakRss)) run.peakRss = hwm;
}

/**
 * Reports a stream count the sidecar could not serve: a note saying how far it got and why, a
 * figure counting the change rounds it served, and the arrivals of those rounds, if any.
 */
async function didNotFit(
  run: Run,
  streams: number,
  when: string,
  err: unknown,
  arrivals: number[],
): Promise<void> {
  await settle(500); // let an exiting process finish writing why
  const { server, set, plan } = run;
  const exit = alive(server)
    ? `it is still running (RSS ${formatNumber(memoryMiB(server.pid, "VmRSS"))} MiB)`
    : `it died (${server.child.exitCode ?? server.child.signalCode}) ${when}`;
  const lines = run.stderr.trim().split("\n");
  const oom = lines.find((l) => /heap out of memory/i.test(l));
  // V8's last GC trace line before an out-of-memory abort gives the heap's size at the limit.
  const gc = lines.filter((l) => /Mark-Compact|Scavenge/.test(l)).at(-1);
  const why = oom
    ? `V8: "${oom.trim()}"${gc ? `, last GC: "${gc.replace(/^\s*\[[^\]]*\]\s*/, "").trim()}"` : ""}`
    : `error: ${err instanceof Error ? err.message : String(err)}; stderr: ${lines.slice(-3).join(" / ") || "empty"}`;
  const rounds = arrivals.length / streams;
  const cause = oom ? "V8 heap out of memory" : alive(server) ? "streams failed" : "it died";
  run.figures.push({
    name: `${run.prefix}: change rounds served with ${count(streams)} streams open, of ${plan.rounds} (NOT served: ${cause})`,
    unit: "rounds",
    samples: [rounds],
  });
  if (rounds > 0) {
    run.figures.push({
      name: `${run.prefix}: document change -> SSE event, ${count(streams)} streams open (each stream's arrival; only the ${rounds} round(s) before it failed)`,
      unit: "ms",
      samples: arrivals,
      stat: "percentiles",
    });
  }
  run.notes.push(
    `${run.prefix} did NOT serve ${count(streams)} streams (V8 options: ${set.options.join(" ") || "none"}; ${count(run.client.size)} streams had opened, ${count(run.client.lost)} were lost): ${exit}; ${why}.`,
  );
}
