// A sidecar serving a document with one flag whose rules were written to stall it (forced into the
// document: no webhook in the way), flooded with contexts that make those rules run away, while
// other flags and /readyz are timed. The run-time rule budget must keep everyone else served.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import os from "node:os";
import { join } from "node:path";
import { buildDocument, type ResolvedFlag } from "../src/core/index.js";
import { RawHttpClient } from "../test/support/raw-http.js";
import { describeSidecarOptions, SIDECAR_V8_OPTIONS } from "./deployed.js";
import { startOfrepServer } from "./flagd/process.js";
import { cpuPinning } from "./pinning.js";
import { cpuMs } from "./proc.js";
import { buildSidecar } from "./sidecar-vs-flagd.bench.js";
import { type BenchResult, type Figure, formatNumber, summarize } from "./stats.js";

// HOSTILE_RULES_PIN=0 turns pinning off.
const pinning = cpuPinning("HOSTILE_RULES_PIN");

export const name = "hostile-rules";
export const description =
  "The bundled `flagwright sidecar --file` serving 10 ordinary flags and one flag with four rules that " +
  "froze sidecars before rules had a budget (a backtracking pattern, a list concatenated per element, " +
  "a map of maps over 2,000 tags, five nested all()), written into the document directly. A " +
  "child process floods the hostile flag over 8 keep-alive connections with contexts that make " +
  "each rule run away, while this process evaluates the ordinary flags one request at a time (node:http, kept alive) and " +
  "asks /readyz every 50 ms. Targets: ordinary flags' p99 < 5 ms, every /readyz answer < 100 ms.";

/** In this order, so each context reaches the rule it is meant for (earlier ones do not match it cheaply). */
const HOSTILE_RULES = [
  'email.matches("^([a-z]+)+$")',
  "tags.exists(a, (tags + tags).size() == 1)",
  "tags.map(a, tags.map(b, a + b)).size() == 0",
  'tags.all(a, tags.all(b, tags.all(c, tags.all(d, tags.all(e, a + b + c + d + e != "")))))',
];

function benchDocument() {
  const base = { enabled: true, killed: false, percent: 100, allowedUsers: [] as string[], revision: "r1" };
  const flags: Record<string, ResolvedFlag> = {
    hostile: {
      ...base,
      percent: 0,
      rules: HOSTILE_RULES.map((when, i) => ({ name: `hostile-${i}`, when, serve: { enabled: true } })),
    },
  };
  for (let i = 0; i < 10; i++) {
    const kind = i % 4;
    flags[`ordinary-${i}`] =
      kind === 0
        ? { ...base, percent: 25 + i }
        : kind === 1
          ? {
              ...base,
              variants: [
                { name: "a", weight: 50, value: "a" },
                { name: "b", weight: 50, value: "b" },
              ],
            }
          : kind === 2
            ? {
                ...base,
                percent: 0,
                rules: [
                  {
                    name: "eu-employees-new-app",
                    when: 'email.endsWith("@acme.com") && country in ["DE", "FR", "NL", "IT"] && semverCompare(appVersion, "2.3.0") >= 0',
                    serve: { enabled: true },
                  },
                ],
              }
            : {
                ...base,
                percent: 0,
                rules: [{ name: "beta", when: 'tags.exists(t, t == "beta")', serve: { enabled: true } }],
              };
  }
  return buildDocument("bench", flags);
}

/** Contexts that make each hostile rule run away; all fit the sidecar's 64 KiB body limit. */
function hostileBodies(): string[] {
  const tags = (n: number) => Array.from({ length: n }, (_, i) => `tag-${i}`);
  return [
    { targetingKey: "h1", tags: tags(30), email: `${"a".repeat(31)}!` },
    { targetingKey: "h2", tags: tags(2000), email: `${"a".repeat(31)}!` },
    { targetingKey: "h3", tags: tags(30), email: `${"a".repeat(16_000)}!` },
  ].map((context) => JSON.stringify({ context }));
}

/** The flood, in a child process so its client work does not delay this process's timings. */
const FLOOD_SCRIPT = `
const [url, seconds, connections, ...bodies] = process.argv.slice(1);
const end = Date.now() + Number(seconds) * 1000;
let answered = 0, failed = 0, matched = 0;
// When each answer arrived, on the clock the probe uses too (performance.timeOrigin + now()).
const answeredAt = [];
async function loop(i) {
  for (let n = i; Date.now() < end; n++) {
    try {
      const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: bodies[n % bodies.length] });
      const json = await res.json();
      answeredAt.push(performance.timeOrigin + performance.now());
      if (res.status !== 200) failed++; else { answered++; if (json.value !== false) matched++; }
    } catch { failed++; }
  }
}
Promise.all(Array.from({ length: Number(connections) }, (_, i) => loop(i))).then(() => {
  process.stdout.write(JSON.stringify({ answered, failed, matched, answeredAt }));
});
`;

interface Probe {
  ordinaryMs: number[];
  /** When each ordinary request was sent and answered (performance.timeOrigin + now(), ms). */
  ordinaryIntervals: [number, number][];
  readyzMs: number[];
  errors: number;
}

/**
 * One request on a kept-alive connection with node:http, timed to the end of its answer. (fetch adds
 * a floor of its own: on the quiet 2-core machine its p99 was 5.8 ms against node:http's 0.5-1.6 ms
 * for the same requests, which would hide what the sidecar does.)
 */
function timedRequest(
  agent: Agent,
  url: URL,
  path: string,
  body?: string,
): Promise<{ ms: number; status: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: body === undefined ? "GET" : "POST",
        agent,
        headers:
          body === undefined
            ? {}
            : { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ ms: performance.now() - started, status: res.statusCode ?? 0 }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * For each interval, how many of the sorted instants fall inside it: the hostile answers the
 * sidecar sent while an ordinary request waited. Unlike the wall-clock latency this hardly depends
 * on how much CPU the scheduler gives the sidecar, so it shows, on a loaded machine too, how much
 * hostile work is let in ahead of another flag's request.
 */
export function countWithin(
  intervals: readonly [number, number][],
  sortedInstants: readonly number[],
): number[] {
  let first = 0;
  return intervals.map(([from, to]) => {
    while (first < sortedInstants.length && (sortedInstants[first] as number) < from) first++;
    let n = 0;
    while (first + n < sortedInstants.length && (sortedInstants[first + n] as number) <= to) n++;
    return n;
  });
}

/** Evaluates ordinary flags one request at a time and asks /readyz every 50 ms, until `until()`. */
async function probe(sidecarUrl: string, until: () => boolean): Promise<Probe> {
  const result: Probe = { ordinaryMs: [], ordinaryIntervals: [], readyzMs: [], errors: 0 };
  const url = new URL(sidecarUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  const context = {
    targetingKey: "user-1",
    email: "ada@acme.com",
    country: "DE",
    appVersion: "2.4.0",
    tags: ["beta"],
  };
  const body = JSON.stringify({ context });
  const readyz = (async () => {
    while (!until()) {
      const answer = await timedRequest(agent, url, "/readyz");
      result.readyzMs.push(answer.ms);
      if (answer.status !== 200) result.errors++;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  for (let n = 0; !until(); n++) {
    const sent = performance.timeOrigin + performance.now();
    const answer = await timedRequest(agent, url, `/ofrep/v1/evaluate/flags/ordinary-${n % 10}`, body);
    result.ordinaryMs.push(answer.ms);
    result.ordinaryIntervals.push([sent, sent + answer.ms]);
    if (answer.status !== 200) result.errors++;
  }
  await readyz;
  agent.destroy();
  return result;
}

/**
 * `rounds` times: writes a request for the hostile flag on each of `hostile` kept-alive connections
 * and then one for an ordinary flag on another, all in one synchronous run, and counts the hostile
 * answers that arrived before the ordinary one. That is how much hostile work the sidecar puts
 * ahead of another flag's request that arrives with it: a count, so unlike the latencies it does
 * not depend on how much CPU the scheduler gives the processes.
 */
async function bursts(
  sidecarUrl: string,
  bodies: string[],
  rounds: number,
  hostile: number,
): Promise<number[]> {
  const clients = await Promise.all(
    Array.from({ length: hostile + 1 }, () => RawHttpClient.open(sidecarUrl)),
  );
  try {
    const ordinaryBody = JSON.stringify({ context: { targetingKey: "user-1", tags: ["beta"] } });
    await Promise.all(clients.map((c) => c.post("/ofrep/v1/evaluate/flags/ordinary-0", ordinaryBody)));
    const ahead: number[] = [];
    for (let round = 0; round < rounds; round++) {
      let hostileAnswered = 0;
      let position = Number.NaN;
      await Promise.all(
        clients.map((client, i) =>
          i < hostile
            ? client
                .post("/ofrep/v1/evaluate/flags/hostile", bodies[(round + i) % bodies.length] as string)
                .then(() => {
                  hostileAnswered++;
                })
            : client.post(`/ofrep/v1/evaluate/flags/ordinary-${round % 10}`, ordinaryBody).then(() => {
                position = hostileAnswered;
              }),
        ),
      );
      ahead.push(position);
    }
    return ahead;
  } finally {
    for (const c of clients) c.close();
  }
}

const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

export async function run({ smoke }: { smoke: boolean }): Promise<BenchResult> {
  const seconds = smoke ? { quiet: 0.5, flood: 1 } : { quiet: 3, flood: 10 };
  const connections = 8;
  const dir = await mkdtemp(join(os.tmpdir(), "flagwright-hostile-rules-"));
  const file = join(dir, "flags.json");
  writeFileSync(file, JSON.stringify(benchDocument()));
  const build = buildSidecar();
  const loadAtStart = loadAverage();
  const sidecar = await startOfrepServer(
    ...pinning.pinned(process.execPath, [
      ...SIDECAR_V8_OPTIONS,
      build.main,
      "sidecar",
      "--file",
      file,
      "--listen",
      "127.0.0.1:0",
    ]),
  );
  // The probes and the flood (spawned below, inheriting this affinity) on the other CPU.
  const restoreAffinity = pinning.pinSelf();
  try {
    // Warm up the ordinary path, then time it without the flood for comparison.
    let stop = Date.now() + 1000 * (smoke ? 0.3 : 1);
    await probe(sidecar.url, () => Date.now() > stop);
    stop = Date.now() + 1000 * seconds.quiet;
    const quiet = await probe(sidecar.url, () => Date.now() > stop);

    const cpuBefore = cpuMs(sidecar.pid);
    const flood = spawn(
      process.execPath,
      [
        "-e",
        FLOOD_SCRIPT,
        `${sidecar.url}/ofrep/v1/evaluate/flags/hostile`,
        String(seconds.flood),
        String(connections),
        ...hostileBodies(),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let floodOut = "";
    flood.stdout.on("data", (d) => {
      floodOut += d;
    });
    const floodDone = new Promise<void>((resolve) => flood.once("close", () => resolve()));
    let flooding = true;
    void floodDone.then(() => {
      flooding = false;
    });
    const during = await probe(sidecar.url, () => !flooding);
    await floodDone;
    const cpuDuring = cpuMs(sidecar.pid) - cpuBefore;
    const counts = JSON.parse(floodOut || "{}") as {
      answered?: number;
      failed?: number;
      matched?: number;
      answeredAt?: number[];
    };
    const hostileAhead = countWithin(
      during.ordinaryIntervals,
      [...(counts.answeredAt ?? [])].sort((a, b) => a - b),
    );
    const answered = counts.answered ?? 0;
    // The flood left the hostile flag on its reduced budget; each burst's hostile requests keep it there.
    const burstAhead = await bursts(sidecar.url, hostileBodies(), smoke ? 20 : 200, connections);
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    const exceeded = [
      ...metrics.matchAll(/^flagwright_sidecar_rule_budget_exceeded_total\{[^}]*\} (\S+)$/gm),
    ].reduce((sum, m) => sum + Number(m[1]), 0);

    const p99 = summarize(during.ordinaryMs).p99;
    const readyMax = Math.max(...during.readyzMs);
    const figures: Figure[] = [
      {
        name: "ordinary flags, no flood: request latency",
        unit: "ms",
        samples: quiet.ordinaryMs,
        stat: "percentiles",
      },
      {
        name: "ordinary flags during the hostile flood: request latency",
        unit: "ms",
        samples: during.ordinaryMs,
        stat: "percentiles",
      },
      {
        name: "hostile answers sent while an ordinary request waited",
        unit: "answers",
        samples: hostileAhead,
        stat: "percentiles",
      },
      {
        name: `hostile answers ahead of an ordinary request written right after ${connections} hostile ones (one per connection)`,
        unit: "answers",
        samples: burstAhead,
        stat: "percentiles",
      },
      {
        name: "/readyz during the hostile flood: answer time",
        unit: "ms",
        samples: during.readyzMs,
        stat: "percentiles",
      },
      {
        name: "hostile-flag evaluations answered during the flood",
        unit: "requests",
        samples: [answered],
        computed: true,
      },
      {
        name: "sidecar CPU per hostile-flag evaluation (flood CPU ÷ answers, ordinary probes included)",
        unit: "ms",
        samples: [answered > 0 ? cpuDuring / answered : Number.NaN],
        computed: true,
      },
      {
        name: "evaluations stopped by the rule budget (flagwright_sidecar_rule_budget_exceeded_total)",
        unit: "evaluations",
        samples: [exceeded],
        computed: true,
      },
    ];
    return {
      figures,
      notes: [
        `Targets: ordinary flags' p99 during the flood < 5 ms: ${p99 < 5 ? "met" : "missed"} (${formatNumber(p99)} ms); every /readyz answer < 100 ms: ${readyMax < 100 ? "met" : "missed"} (slowest ${formatNumber(readyMax)} ms).`,
        `Hostile answers: ${answered} answered, ${counts.failed ?? 0} failed, ${counts.matched ?? 0} matched (should be 0: a stopped rule does not match); probe errors ${quiet.errors + during.errors}.`,
        `${describeSidecarOptions()} The flood uses ${connections} connections, the probes one each. ${pinning.describe()}`,
        `Load average at start ${loadAtStart}, at end ${loadAverage()} (a shared machine: other work's load shows in the latencies).`,
      ],
    };
  } finally {
    restoreAffinity();
    await sidecar.stop();
    build.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}
