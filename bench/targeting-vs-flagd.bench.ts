// Flag evaluation in process, Flagwright's core against flagd's own evaluator (flagd core v0.17.0's
// JSON evaluator, bench/flagd --bench-flag, no HTTP), on the same flags and the same contexts: a
// static flag, a percentage rollout (flagd's `fractional`), a three-condition rule (string, list and
// semver tests) and a segment rule (included keys, excluded keys and a condition). Both sides count
// evaluations per CPU second of their process.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { buildDocument, compileDocument, evaluate, type ResolvedFlag } from "../src/core/index.js";
import { ensureFlagdBinary } from "./flagd/build.js";
import { toFlagd } from "./flagd-translate.js";
import { type BenchResult, type Figure, pairedRatios } from "./stats.js";

export const name = "targeting-vs-flagd";
export const description =
  "Flag evaluation on one thread: `evaluate()` from flagwright/core against flagd core v0.17.0's JSON " +
  "evaluator (ResolveAsAnyValue, called in a Go loop without HTTP) on the same flags: a static flag, a " +
  "25 % rollout (flagd `fractional`), and two targeting rules written as CEL and as flagd JSONLogic, " +
  "cycling through the same 4,096 contexts (about a third match the rules). Rates per CPU second of " +
  "each process; runs alternate between the two.";

const INCLUDED = ["qa-1", "qa-2", "qa-3"];
const EXCLUDED = ["troll"];

const rules = {
  "three-condition": {
    cel: 'email.endsWith("@acme.com") && country in ["DE", "FR", "NL", "IT"] && semverCompare(appVersion, "2.3.0") >= 0',
    flagd: {
      and: [
        { ends_with: [{ var: "email" }, "@acme.com"] },
        { in: [{ var: "country" }, ["DE", "FR", "NL", "IT"]] },
        { sem_ver: [{ var: "appVersion" }, ">=", "2.3.0"] },
      ],
    },
  },
  segment: {
    cel: "", // the rule names the segment below
    flagd: {
      and: [
        { "!": { in: [{ var: "targetingKey" }, EXCLUDED] } },
        {
          or: [
            { in: [{ var: "targetingKey" }, INCLUDED] },
            { in: [{ var: "plan" }, ["beta", "enterprise"]] },
          ],
        },
      ],
    },
  },
} as const;

/** Flags without rules, translated for flagd by bench/flagd-translate.ts as the OFREP benchmark does. */
const plainFlags: Record<string, ResolvedFlag> = {
  static: { enabled: true, killed: false, percent: 100, allowedUsers: [], revision: "r" },
  percentage: { enabled: true, killed: false, percent: 25, allowedUsers: [], revision: "r" },
};

const document = compileDocument(
  buildDocument(
    "bench",
    {
      ...plainFlags,
      "three-condition": {
        enabled: true,
        killed: false,
        percent: 0,
        allowedUsers: [],
        rules: [{ name: "r", when: rules["three-condition"].cel, serve: { enabled: true } }],
        revision: "r",
      },
      segment: {
        enabled: true,
        killed: false,
        percent: 0,
        allowedUsers: [],
        rules: [{ name: "r", segments: ["beta-testers"], serve: { enabled: true } }],
        revision: "r",
      },
    },
    undefined,
    { "beta-testers": { when: 'plan in ["beta", "enterprise"]', included: INCLUDED, excluded: EXCLUDED } },
  ),
);

const flagdDefinition = {
  $schema: "https://flagd.dev/schema/v0/flags.json",
  flags: {
    ...toFlagd(buildDocument("bench", plainFlags)).flags,
    ...Object.fromEntries(
      Object.entries(rules).map(([key, rule]) => [
        key,
        {
          state: "ENABLED",
          variants: { on: true, off: false },
          defaultVariant: "off",
          targeting: { if: [rule.flagd, "on", "off"] },
        },
      ]),
    ),
  },
};

const FLAG_KEYS = [...Object.keys(plainFlags), ...Object.keys(rules)];

const COUNTRIES = ["DE", "US", "FR", "BR"];
const PLANS = ["beta", "free", "enterprise", "team"];
const contexts = Array.from({ length: 4096 }, (_, i) => ({
  targetingKey: i % 50 === 0 ? (INCLUDED[i % 3] as string) : `user-${i * 2654435761}`,
  email: i % 3 === 0 ? `u${i}@example.com` : `u${i}@acme.com`,
  country: COUNTRIES[i % 4] as string,
  appVersion: `2.${i % 12}.${i % 5}`,
  plan: PLANS[i % 4] as string,
}));

function flagwrightRate(key: string, ms: number): number {
  let calls = 0;
  let on = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 10_000; i++)
      if (evaluate(document, key, contexts[(calls + i) & 4095]).value === true) on++;
    calls += 10_000;
  }
  const cpu = process.cpuUsage(cpu0);
  if (on < 0) console.log(on);
  return calls / ((cpu.user + cpu.system) / 1e6);
}

function flagdRate(binary: string, file: string, contextsFile: string, key: string, ms: number): number {
  const out = execFileSync(
    binary,
    ["--file", file, "--bench-flag", key, "--bench-contexts", contextsFile, "--bench-ms", String(ms)],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
  );
  const line = out
    .split("\n")
    .map((l) => {
      try {
        return JSON.parse(l) as { event?: string; evaluations: number; cpuSeconds: number };
      } catch {
        return undefined;
      }
    })
    .find((e) => e?.event === "bench");
  if (!line) throw new Error(`flagd --bench-flag printed no result: ${out}`);
  return line.evaluations / line.cpuSeconds;
}

const label = (key: string) => (key in rules ? `${key} rule` : `${key} flag`);

export async function run({ smoke }: { smoke: boolean }): Promise<BenchResult> {
  const runs = smoke ? 2 : 5;
  const ms = smoke ? 200 : 1000;
  const binary = await ensureFlagdBinary();
  const dir = mkdtempSync(join(os.tmpdir(), "flagwright-targeting-bench-"));
  try {
    const file = join(dir, "flags.flagd.json");
    const contextsFile = join(dir, "contexts.json");
    writeFileSync(file, JSON.stringify(flagdDefinition));
    writeFileSync(contextsFile, JSON.stringify(contexts));
    // Warm-up (the two sides agree on these rules: test/unit/bench/targeting-differential.test.ts).
    for (const key of FLAG_KEYS) flagwrightRate(key, smoke ? 20 : 1000);
    const samples: Record<string, { flagwright: number[]; flagd: number[] }> = {};
    for (const key of FLAG_KEYS) samples[key] = { flagwright: [], flagd: [] };
    for (let r = 0; r < runs; r++) {
      for (const key of FLAG_KEYS) {
        const s = samples[key] as { flagwright: number[]; flagd: number[] };
        s.flagwright.push(Math.round(flagwrightRate(key, ms)));
        s.flagd.push(Math.round(flagdRate(binary, file, contextsFile, key, ms)));
      }
    }
    const figures: Figure[] = Object.entries(samples).flatMap(([key, s]) => [
      { name: `${label(key)}: Flagwright core`, unit: "evaluations per CPU second", samples: s.flagwright },
      { name: `${label(key)}: flagd evaluator`, unit: "evaluations per CPU second", samples: s.flagd },
    ]);
    return {
      figures,
      ratios: Object.entries(samples).map(([key, s]) => ({
        name: `${label(key)}: Flagwright ÷ flagd`,
        samples: pairedRatios(s.flagwright, s.flagd),
      })),
      notes: [
        `${runs} runs of ${ms} ms per side and flag; target: ≥ 1,000,000 Flagwright evaluations per CPU second for the rule and percentage flags, and ahead of flagd.`,
        "The percentage flag: 25 % of users on, bucketed by sha256 in Flagwright and by flagd's murmur3 `fractional` (the same share, different users); the static flag is on for everyone.",
        "flagd's side includes its per-evaluation work outside JSONLogic (flag lookup in its store, metadata, reason), as Flagwright's does.",
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
