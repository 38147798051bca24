// Evaluations per second of the core, per flag kind, against a small and a large document, with a
// distinct user per call (so every call that can hash does), on one thread. Rates are per CPU
// second of this process (process.cpuUsage), so time the scheduler gives to other processes on a
// shared machine does not count against it; wall-clock rates are reported next to them.
import { hash } from "node:crypto";
import { buildDocument, compileDocument, evaluate, type ResolvedFlag } from "../src/core/index.js";
import { type BenchResult, type Figure, pairedRatios } from "./stats.js";

export const name = "evaluate";
export const description =
  "`evaluate()` from flagwright/core on one thread, a distinct user per call, against documents of " +
  "10 and 10,000 flags (the measured flags plus percentage-rollout fillers). Each run counts calls " +
  "for a fixed time; runs of the different rows are interleaved so drift in the machine's load " +
  "spreads over all of them. Reference row: the percentage flag's hash via node:crypto's one-shot sha256.";

const ALLOW_LIST = Array.from({ length: 100 }, (_, i) => `vip-${i}`);

const measured: Record<string, ResolvedFlag> = {
  static: { enabled: true, killed: false, percent: 100, allowedUsers: [], revision: "r" },
  percentage: { enabled: true, killed: false, percent: 25.5, allowedUsers: ["vip"], revision: "r" },
  variant: {
    enabled: true,
    killed: false,
    percent: 50,
    allowedUsers: [],
    variants: [
      { name: "a", weight: 34, value: { layout: "grid" } },
      { name: "b", weight: 33, value: { layout: "list" } },
      { name: "c", weight: 33 },
    ],
    defaultValue: { layout: "classic" },
    revision: "r",
  },
  "allow-listed": { enabled: true, killed: false, percent: 10, allowedUsers: ALLOW_LIST, revision: "r" },
  // Targeting (issue 18): one rule with a string, a list and a semver test; one naming a segment.
  // Off for everyone else (percent 0), so these rows time the rule rather than the rollout's hash.
  "three-condition rule": {
    enabled: true,
    killed: false,
    percent: 0,
    allowedUsers: [],
    rules: [
      {
        name: "eu-employees-new-app",
        when: 'email.endsWith("@acme.com") && country in ["DE", "FR", "NL", "IT"] && semverCompare(appVersion, "2.3.0") >= 0',
        serve: { enabled: true },
      },
    ],
    revision: "r",
  },
  "segment rule": {
    enabled: true,
    killed: false,
    percent: 0,
    allowedUsers: [],
    rules: [{ name: "beta", segments: ["beta-testers"], serve: { enabled: true } }],
    revision: "r",
  },
};

const segments = {
  "beta-testers": { when: 'plan in ["beta", "enterprise"]', included: ["qa-1", "qa-2"], excluded: ["troll"] },
};

function documentOf(size: number) {
  const flags: Record<string, ResolvedFlag> = { ...measured };
  for (let i = Object.keys(flags).length; i < size; i++) {
    flags[`filler-flag-${i}`] = {
      enabled: true,
      killed: false,
      percent: 30,
      allowedUsers: ["qa"],
      revision: "r",
    };
  }
  return compileDocument(buildDocument("bench", flags, undefined, segments));
}

const USERS = 1 << 16;
const MASK = USERS - 1;
const contexts = Array.from({ length: USERS }, (_, i) => ({ targetingKey: `user-${i * 2654435761}` }));
// Half the contexts match the rules, half fail on the last test (what a rule costs either way).
const COUNTRIES = ["DE", "US", "FR", "BR"];
const PLANS = ["beta", "free", "enterprise", "team"];
const attributed = Array.from({ length: USERS }, (_, i) => ({
  targetingKey: `user-${i * 2654435761}`,
  email: i % 3 === 0 ? `u${i}@example.com` : `u${i}@acme.com`,
  country: COUNTRIES[i % 4] as string,
  appVersion: `2.${i % 12}.${i % 5}`,
  plan: PLANS[i % 4] as string,
}));
const allowListed = Array.from({ length: USERS }, (_, i) => ({
  targetingKey: ALLOW_LIST[i % 100] as string,
}));

interface Rate {
  perCpuSecond: number;
  perWallSecond: number;
}

function measure(fn: (i: number) => unknown, ms: number): Rate {
  // Count calls in rounds of a fixed size until the time budget is spent.
  let calls = 0;
  let sink = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 10_000; i++) if (fn(calls + i) !== undefined) sink++;
    calls += 10_000;
    elapsed = performance.now() - t0;
  }
  const cpu = process.cpuUsage(cpu0);
  if (sink < 0) console.log(sink);
  return { perCpuSecond: calls / ((cpu.user + cpu.system) / 1e6), perWallSecond: (calls / elapsed) * 1000 };
}

export async function run({ smoke }: { smoke: boolean }): Promise<BenchResult> {
  const runs = smoke ? 2 : 7;
  const ms = smoke ? 100 : 1000;
  const rows: { label: string; fn: (i: number) => unknown }[] = [];
  for (const size of [10, 10_000]) {
    const doc = documentOf(size);
    const flagsLabel = `${size.toLocaleString("en-US")} flags`;
    rows.push(
      { label: `static flag, ${flagsLabel}`, fn: (i) => evaluate(doc, "static", contexts[i & MASK]) },
      { label: `percentage flag, ${flagsLabel}`, fn: (i) => evaluate(doc, "percentage", contexts[i & MASK]) },
      { label: `variant flag, ${flagsLabel}`, fn: (i) => evaluate(doc, "variant", contexts[i & MASK]) },
      {
        label: `allow-listed user (100-entry list), ${flagsLabel}`,
        fn: (i) => evaluate(doc, "allow-listed", allowListed[i & MASK]),
      },
      {
        label: `three-condition rule (string, list, semver), ${flagsLabel}`,
        fn: (i) => evaluate(doc, "three-condition rule", attributed[i & MASK]),
      },
      {
        label: `segment rule, ${flagsLabel}`,
        fn: (i) => evaluate(doc, "segment rule", attributed[i & MASK]),
      },
    );
  }
  rows.push({
    label: "reference: node:crypto one-shot sha256 of the percentage input",
    fn: (i) => {
      const digest = hash(
        "sha256",
        `percentage:${contexts[i & MASK]?.targetingKey}`,
        "buffer",
      ) as unknown as Buffer;
      return digest.readUInt32BE(28) % 100;
    },
  });
  // Warm-up: every row gets optimized before any is timed.
  for (const row of rows) measure(row.fn, smoke ? 20 : 200);
  const perCpu = rows.map(() => [] as number[]);
  const perWall = rows.map(() => [] as number[]);
  for (let r = 0; r < runs; r++) {
    rows.forEach((row, i) => {
      const rate = measure(row.fn, ms);
      perCpu[i]?.push(rate.perCpuSecond);
      perWall[i]?.push(rate.perWallSecond);
    });
  }
  const figures: Figure[] = rows.map((row, i) => ({
    name: row.label,
    unit: "evaluations per CPU second",
    samples: (perCpu[i] as number[]).map(Math.round),
  }));
  const percentageIndex = rows.findIndex((r) => r.label === "percentage flag, 10 flags");
  const percentage = perCpu[percentageIndex] as number[];
  figures.push(
    {
      name: "percentage flag, 10 flags: time per evaluation",
      unit: "ns (CPU)",
      samples: percentage.map((rate) => Math.round(1e9 / rate)),
    },
    {
      name: "percentage flag, 10 flags, wall clock",
      unit: "evaluations/s",
      samples: (perWall[percentageIndex] as number[]).map(Math.round),
      note: "wall-clock rate on the same runs; lower than per CPU second when other processes share the cores",
    },
  );
  return {
    figures,
    ratios: [
      {
        name: "percentage flag: evaluate() ÷ node:crypto sha256 alone",
        samples: pairedRatios(percentage, perCpu[rows.length - 1] as number[]),
      },
      {
        name: "percentage flag: 10,000-flag ÷ 10-flag document",
        samples: pairedRatios(
          perCpu[rows.findIndex((r) => r.label === "percentage flag, 10,000 flags")] as number[],
          percentage,
        ),
      },
    ],
    notes: [
      `${runs} runs of ${ms} ms per row (after a warm-up), interleaved; target ≥ 1,000,000 evaluations per CPU second for the percentage flag.`,
    ],
  };
}
