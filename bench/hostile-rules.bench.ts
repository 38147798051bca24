// A sidecar serving a document with one flag whose rules were written to stall it (forced into the
// document: no webhook in the way), flooded with contexts that make those rules run away, while
// other flags and /readyz are timed. The run-time rule budget must keep everyone else served.
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import os from "node:os";
import { join } from "node:path";
import { buildDocument, type ResolvedFlag } from "../src/core/index.js";
import { RawHttpClient } from "../test/support/raw-http.js";
import { describeSidecarOptions, startFileSidecar } from "./deployed.js";
import { ensureLoadgenBinary, type LoadgenReport, runLoadgen } from "./loadgen/build.js";
import { cpuPinning } from "./pinning.js";
import { cpuMs, loadAverage } from "./proc.js";
import { buildSidecar } from "./sidecar-vs-flagd.bench.js";
import { type BenchResult, type Figure, formatNumber } from "./stats.js";

// HOSTILE_RULES_PIN=0 turns pinning off.
const pinning = cpuPinning("HOSTILE_RULES_PIN");

export const name = "hostile-rules";
export const description =
  "The bundled `flagwright sidecar --file` serving 10 ordinary flags and one flag with four rules that " +
  "froze sidecars before rules had a budget (a backtracking pattern, a list concatenated per element, " +
  "a map of maps over 2,000 tags, five nested all()), written into the document directly. A " +
  "child process floods the hostile flag over 8 keep-alive connections with contexts that make " +
  "each rule run away, while bench/loadgen asks for the ordinary flags at a fixed rate (open loop, latency from each " +
  "request's own send) and this process asks /readyz every 50 ms. Targets: ordinary flags' p99 < 5 ms, every /readyz " +
  "answer < 100 ms.";

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
async function loop(i) {
  for (let n = i; Date.now() < end; n++) {
    try {
      const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: bodies[n % bodies.length] });
      const json = await res.json();
      if (res.status !== 200) failed++; else { answered++; if (json.value !== false) matched++; }
    } catch { failed++; }
  }
}
Promise.all(Array.from({ length: Number(connections) }, (_, i) => loop(i))).then(() => {
  process.stdout.write(JSON.stringify({ answered, failed, matched }));
});
`;

/** The ordinary flags' requests per second (HOSTILE_RULES_RATE): other apps' traffic, not a second flood. */
const ORDINARY_RATE = Number(process.env.HOSTILE_RULES_RATE) || 500;
const ORDINARY_CONNECTIONS = 8;

/**
 * The probe runs at a real-time priority where the machine allows it (root or CAP_SYS_NICE): it
 * shares the generators' CPU with the flood, which is always runnable, and without it its own
 * wake-ups waited behind the flood for up to a scheduler slice, counted as the sidecar's latency
 * (about 3 ms of the p99 on the 2-core machine). It needs a few percent of that CPU, so the flood
 * keeps the rest. HOSTILE_RULES_PROBE_PRIORITY=0 turns it off.
 */
const PROBE_PRIORITY = (() => {
  const command = ["chrt", "--fifo", "10"];
  const on =
    process.env.HOSTILE_RULES_PROBE_PRIORITY !== "0" &&
    spawnSync(command[0] as string, [...command.slice(1), "true"]).status === 0;
  return {
    on,
    command,
    describe: on
      ? `The ordinary-flag probe (bench/loadgen) ran under \`${command.join(" ")}\` (HOSTILE_RULES_PROBE_PRIORITY=0 turns it off).`
      : "The ordinary-flag probe ran at normal priority (chrt not permitted here, or HOSTILE_RULES_PROBE_PRIORITY=0): its own scheduling delays behind the flood count in its latencies.",
  };
})();

interface ReadyzProbe {
  readyzMs: number[];
  errors: number;
}

/**
 * One request on a kept-alive connection with node:http, timed to the end of its answer. (fetch adds
 * a floor of its own: on the quiet 2-core machine its p99 was 5.8 ms against node:http's 0.5-1.6 ms
 * for the same requests, which would hide what the sidecar does.)
 */
function timedRequest(agent: Agent, url: URL, path: string): Promise<{ ms: number; status: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: url.hostname, port: url.port, path, agent }, (res) => {
      res.resume();
      res.on("end", () => resolve({ ms: performance.now() - started, status: res.statusCode ?? 0 }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Asks /readyz every 50 ms until `until()`. */
async function probeReadyz(sidecarUrl: string, until: () => boolean): Promise<ReadyzProbe> {
  const result: ReadyzProbe = { readyzMs: [], errors: 0 };
  const url = new URL(sidecarUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  while (!until()) {
    const answer = await timedRequest(agent, url, "/readyz");
    result.readyzMs.push(answer.ms);
    if (answer.status !== 200) result.errors++;
    await new Promise((r) => setTimeout(r, 50));
  }
  agent.destroy();
  return result;
}

/**
 * The ordinary flags at ORDINARY_RATE for `seconds`, open loop (bench/loadgen, a separate process):
 * requests leave on schedule whatever the sidecar does and each latency counts from its own send,
 * so a stall shows in every request it delays. A closed loop in this process (the earlier probe)
 * was a second load generator: it took as much of the generators' CPU as the flood, and its own
 * scheduling delays behind the flood were counted as the sidecar's.
 */
function probeOrdinary(
  loadgen: string,
  sidecarUrl: string,
  requestsFile: string,
  seconds: number,
  samplesFile?: string,
) {
  return runLoadgen(loadgen, {
    url: sidecarUrl,
    requestsFile,
    rate: ORDINARY_RATE,
    seconds,
    connections: ORDINARY_CONNECTIONS,
    samplesFile,
    runUnder: PROBE_PRIORITY.on ? PROBE_PRIORITY.command : undefined,
  });
}

/** The ordinary flags' requests: one per flag, all with a context that reaches their rules. */
function ordinaryRequests(): { method: string; path: string; body: string }[] {
  const context = {
    targetingKey: "user-1",
    email: "ada@acme.com",
    country: "DE",
    appVersion: "2.4.0",
    tags: ["beta"],
  };
  const body = JSON.stringify({ context });
  return Array.from({ length: 10 }, (_, i) => ({
    method: "POST",
    path: `/ofrep/v1/evaluate/flags/ordinary-${i}`,
    body,
  }));
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

interface Round {
  quiet: LoadgenReport;
  during: LoadgenReport;
  readyz: ReadyzProbe;
  burstAhead: number[];
  hostileAnswered: number;
  hostileFailed: number;
  hostileMatched: number;
  cpuPerHostileMs: number;
  budgetExceeded: number;
}

/** Runs the flood child for `seconds`; its counts when it ends. */
function flood(sidecarUrl: string, seconds: number, connections: number) {
  const child = spawn(
    process.execPath,
    [
      "-e",
      FLOOD_SCRIPT,
      `${sidecarUrl}/ofrep/v1/evaluate/flags/hostile`,
      String(seconds),
      String(connections),
      ...hostileBodies(),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  return new Promise<{ answered: number; failed: number; matched: number }>((resolve) =>
    child.once("close", () => {
      const counts = JSON.parse(out || "{}") as { answered?: number; failed?: number; matched?: number };
      resolve({ answered: counts.answered ?? 0, failed: counts.failed ?? 0, matched: counts.matched ?? 0 });
    }),
  );
}

/** One round on a fresh sidecar: the ordinary flags without, then during, a hostile flood. */
async function runRound(
  main: string,
  file: string,
  loadgen: string,
  requestsFile: string,
  smoke: boolean,
): Promise<Round> {
  const seconds = smoke ? { warmup: 0.5, quiet: 1, flood: 2 } : { warmup: 2, quiet: 5, flood: 10 };
  const sidecar = await startFileSidecar({ main, file, pinning });
  try {
    await probeOrdinary(loadgen, sidecar.url, requestsFile, seconds.warmup);
    const quiet = await probeOrdinary(loadgen, sidecar.url, requestsFile, seconds.quiet);
    const cpuBefore = cpuMs(sidecar.pid);
    let flooding = true;
    const floodDone = flood(sidecar.url, seconds.flood, FLOOD_CONNECTIONS).finally(() => {
      flooding = false;
    });
    const [during, readyz, counts] = await Promise.all([
      probeOrdinary(
        loadgen,
        sidecar.url,
        requestsFile,
        seconds.flood,
        process.env.HOSTILE_RULES_SAMPLES ? `${process.env.HOSTILE_RULES_SAMPLES}.${sidecar.pid}` : undefined,
      ),
      probeReadyz(sidecar.url, () => !flooding),
      floodDone,
    ]);
    const cpuDuring = cpuMs(sidecar.pid) - cpuBefore;
    // The flood left the hostile flag on its reduced budget; each burst's hostile requests keep it there.
    const burstAhead = await bursts(sidecar.url, hostileBodies(), smoke ? 20 : 200, FLOOD_CONNECTIONS);
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    const budgetExceeded = [
      ...metrics.matchAll(/^flagwright_sidecar_rule_budget_exceeded_total\{[^}]*\} (\S+)$/gm),
    ].reduce((sum, m) => sum + Number(m[1]), 0);
    return {
      quiet,
      during,
      readyz,
      burstAhead,
      hostileAnswered: counts.answered,
      hostileFailed: counts.failed,
      hostileMatched: counts.matched,
      cpuPerHostileMs: counts.answered > 0 ? cpuDuring / counts.answered : Number.NaN,
      budgetExceeded,
    };
  } finally {
    await sidecar.stop();
  }
}

const FLOOD_CONNECTIONS = 8;

export async function run({ smoke }: { smoke: boolean }): Promise<BenchResult> {
  const rounds = smoke ? 1 : Number(process.env.HOSTILE_RULES_ROUNDS) || 3;
  const dir = await mkdtemp(join(os.tmpdir(), "flagwright-hostile-rules-"));
  const file = join(dir, "flags.json");
  writeFileSync(file, JSON.stringify(benchDocument()));
  const requestsFile = join(dir, "ordinary-requests.json");
  writeFileSync(requestsFile, JSON.stringify(ordinaryRequests()));
  const loadgen = await ensureLoadgenBinary((line) => console.log(`  [loadgen] ${line}`));
  const build = buildSidecar();
  const loadAtStart = loadAverage();
  // The generators (loadgen, the flood, the probes; all spawned after this) on the other CPU.
  const restoreAffinity = pinning.pinSelf();
  try {
    const results: Round[] = [];
    for (let i = 0; i < rounds; i++) {
      const round = await runRound(build.main, file, loadgen, requestsFile, smoke);
      results.push(round);
      console.log(
        `  round ${i + 1}/${rounds}: ordinary p99 ${formatNumber(round.quiet.p99Ms)} ms without the flood, ` +
          `${formatNumber(round.during.p99Ms)} ms during it (max ${formatNumber(round.during.maxMs)}); ` +
          `/readyz max ${formatNumber(Math.max(...round.readyz.readyzMs))} ms; ${round.hostileAnswered} hostile answers`,
      );
    }
    const each = <T>(pick: (r: Round) => T) => results.map(pick);
    const duringP99 = each((r) => r.during.p99Ms);
    const readyzAll = results.flatMap((r) => r.readyz.readyzMs);
    const worstP99 = Math.max(...duringP99);
    const readyMax = Math.max(...readyzAll);
    const at = `at ${ORDINARY_RATE} req/s`;
    const figures: Figure[] = [
      {
        name: `ordinary flags ${at}, no flood: p50 latency`,
        unit: "ms",
        samples: each((r) => r.quiet.p50Ms),
      },
      {
        name: `ordinary flags ${at}, no flood: p99 latency`,
        unit: "ms",
        samples: each((r) => r.quiet.p99Ms),
      },
      {
        name: `ordinary flags ${at}, no flood: max latency`,
        unit: "ms",
        samples: each((r) => r.quiet.maxMs),
      },
      {
        name: `ordinary flags ${at} during the hostile flood: p50 latency`,
        unit: "ms",
        samples: each((r) => r.during.p50Ms),
      },
      {
        name: `ordinary flags ${at} during the hostile flood: p99 latency`,
        unit: "ms",
        samples: duringP99,
      },
      {
        name: `ordinary flags ${at} during the hostile flood: max latency`,
        unit: "ms",
        samples: each((r) => r.during.maxMs),
      },
      {
        name: "hostile-flag evaluations answered in the 10 s flood",
        unit: "requests",
        samples: each((r) => r.hostileAnswered),
      },
      {
        name: "sidecar CPU per hostile-flag evaluation (flood CPU ÷ answers, ordinary requests included)",
        unit: "ms",
        samples: each((r) => r.cpuPerHostileMs),
      },
      {
        name: "evaluations stopped by the rule budget (flagwright_sidecar_rule_budget_exceeded_total)",
        unit: "evaluations",
        samples: each((r) => r.budgetExceeded),
      },
      {
        name: `hostile answers ahead of an ordinary request written right after ${FLOOD_CONNECTIONS} hostile ones (one per connection)`,
        unit: "answers",
        samples: results.flatMap((r) => r.burstAhead),
        stat: "percentiles",
      },
      {
        name: "/readyz during the hostile flood: answer time",
        unit: "ms",
        samples: readyzAll,
        stat: "percentiles",
      },
    ];
    const failedOrdinary = results.reduce((n, r) => n + r.quiet.failed + r.during.failed, 0);
    return {
      figures,
      notes: [
        `Targets, every round: ordinary flags' p99 during the flood < 5 ms: ${worstP99 < 5 ? "met" : "missed"} (worst round ${formatNumber(worstP99)} ms); every /readyz answer < 100 ms: ${readyMax < 100 ? "met" : "missed"} (slowest ${formatNumber(readyMax)} ms).`,
        `Hostile answers: ${results.reduce((n, r) => n + r.hostileAnswered, 0)} answered, ${results.reduce((n, r) => n + r.hostileFailed, 0)} failed, ${results.reduce((n, r) => n + r.hostileMatched, 0)} matched (should be 0: a stopped rule does not match); ordinary requests failed: ${failedOrdinary}; /readyz errors: ${results.reduce((n, r) => n + r.readyz.errors, 0)}.`,
        `${rounds} round(s), each on a fresh sidecar. ${describeSidecarOptions()} The flood uses ${FLOOD_CONNECTIONS} keep-alive connections (closed loop, as fast as answered); the ordinary flags ${ORDINARY_RATE} req/s (HOSTILE_RULES_RATE) over ${ORDINARY_CONNECTIONS}, by bench/loadgen. ${PROBE_PRIORITY.describe} ${pinning.describe()}`,
        `Load average at start ${loadAtStart}, at end ${loadAverage()} (a shared machine: other work's load shows in the latencies).`,
      ],
    };
  } finally {
    restoreAffinity();
    build.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}
