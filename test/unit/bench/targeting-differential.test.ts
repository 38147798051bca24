// Differential test against flagd's own evaluator (bench/flagd: flagd core v0.17.0, built from
// Go): the same targeting rules written as flagd JSONLogic (with its custom operators ends_with,
// starts_with, sem_ver) and as Flagwright CEL agree on which rule matches for 12,000 generated
// contexts. Hash-based splits are left out: the two use different hashes by design. Attributes a
// rule reads in an `or` or under a negation are always present, since a missing attribute makes a
// whole Flagwright rule not match while JSONLogic reads it as null, and `!(null in [...])` is true
// (docs/evaluation.md); the others are missing from 10 % of the contexts.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureFlagdBinary } from "../../../bench/flagd/build.js";
import { type OfrepServerProcess, startFlagd } from "../../../bench/flagd/process.js";
import { buildDocument, evaluate, parseDocument } from "../../../src/core/index.js";
import { seededRandom } from "../../support/seeded-random.js";

const CONTEXTS = 12_000;

// Each rule: Flagwright CEL and the same condition in flagd JSONLogic.
const RULES = [
  {
    name: "eu-employees",
    cel: 'email.endsWith("@acme.com") && country in ["DE", "FR", "NL"]',
    flagd: {
      and: [{ ends_with: [{ var: "email" }, "@acme.com"] }, { in: [{ var: "country" }, ["DE", "FR", "NL"]] }],
    },
  },
  {
    name: "enterprise-new-app",
    cel: 'semverCompare(appVersion, "2.3.0") >= 0 && plan == "enterprise"',
    flagd: {
      and: [{ sem_ver: [{ var: "appVersion" }, ">=", "2.3.0"] }, { "==": [{ var: "plan" }, "enterprise"] }],
    },
  },
  {
    name: "admins-or-large",
    cel: 'email.startsWith("admin") || seats > 100',
    flagd: { or: [{ starts_with: [{ var: "email" }, "admin"] }, { ">": [{ var: "seats" }, 100] }] },
  },
  {
    name: "old-beta-apps",
    cel: 'semverCompare(appVersion, "2.0.0-beta.2") < 0 && !(plan in ["free"])',
    flagd: {
      and: [
        { sem_ver: [{ var: "appVersion" }, "<", "2.0.0-beta.2"] },
        { "!": { in: [{ var: "plan" }, ["free"]] } },
      ],
    },
  },
];
const VARIANTS = RULES.map((r) => r.name);

const document = parseDocument(
  buildDocument("diff", {
    targeted: {
      enabled: true,
      killed: false,
      percent: 0,
      allowedUsers: [],
      // Weights only matter for splits, which no rule here serves.
      variants: VARIANTS.map((name, i) => ({
        name,
        weight: i === 0 ? 100 - 25 * (VARIANTS.length - 1) : 25,
      })),
      defaultValue: "none",
      rules: RULES.map((r) => ({ name: r.name, when: r.cel, serve: { variant: r.name } })),
      revision: "r",
    },
  }),
);

const flagdDefinition = {
  $schema: "https://flagd.dev/schema/v0/flags.json",
  flags: {
    targeted: {
      state: "ENABLED",
      variants: Object.fromEntries([...VARIANTS, "none"].map((v) => [v, v])),
      defaultVariant: "none",
      targeting: { if: [...RULES.flatMap((r) => [r.flagd, r.name]), "none"] },
    },
  },
};

function generateContexts(n: number): Record<string, unknown>[] {
  const random = seededRandom(18);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const versions = [
    "1.9.9",
    "2.0.0-alpha",
    "2.0.0-beta.2",
    "2.0.0-beta.11",
    "2.0.0-rc.1",
    "2.0.0",
    "2.2.9",
    "2.3.0-rc.1",
    "2.3.0",
    "2.3.1",
    "2.10.0",
    "10.0.0",
  ];
  return Array.from({ length: n }, (_, i) => {
    const context: Record<string, unknown> = {
      targetingKey: `user-${i}`,
      email: `${pick(["admin", "ada", "bob", "administrator", "x"])}${i}@${pick(["acme.com", "acme.co", "example.com", "acme.com.evil"])}`,
      seats: Math.floor(random() * 200),
      plan: pick(["enterprise", "free", "team", "Enterprise"]),
    };
    // Attributes only read inside `and` may be missing.
    if (random() < 0.9) context.country = pick(["DE", "FR", "NL", "US", "BR", "de"]);
    if (random() < 0.9) context.appVersion = pick(versions);
    return context;
  });
}

let dir: string;
let flagd: OfrepServerProcess;
const contexts = generateContexts(CONTEXTS);
const flagdAnswers: unknown[] = [];

beforeAll(async () => {
  const binary = await ensureFlagdBinary();
  dir = mkdtempSync(join(tmpdir(), "flagwright-flagd-diff-"));
  const file = join(dir, "flags.flagd.json");
  writeFileSync(file, JSON.stringify(flagdDefinition));
  flagd = await startFlagd(binary, file);
  // A few requests at a time over keep-alive connections.
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < contexts.length; i = next++) {
      const res = await fetch(`${flagd.url}/ofrep/v1/evaluate/flags/targeted`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ context: contexts[i] }),
      });
      const body = (await res.json()) as { value?: unknown; errorCode?: string };
      flagdAnswers[i] = body.errorCode ?? body.value;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}, 600_000); // a cold `go build` downloads flagd core's modules

afterAll(async () => {
  await flagd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("Flagwright CEL rules vs flagd JSONLogic targeting", () => {
  it(`agree on the matching rule for ${CONTEXTS.toLocaleString("en-US")} generated contexts`, () => {
    const disagreements: string[] = [];
    const matched = new Map<unknown, number>();
    contexts.forEach((context, i) => {
      const ours = evaluate(document, "targeted", context).value;
      matched.set(ours, (matched.get(ours) ?? 0) + 1);
      if (ours !== flagdAnswers[i])
        disagreements.push(`${JSON.stringify(context)}: flagwright ${ours}, flagd ${flagdAnswers[i]}`);
    });
    expect(disagreements.slice(0, 10)).toEqual([]);
    // Every rule, and no rule, is exercised often enough to mean something.
    for (const name of [...VARIANTS, "none"]) expect(matched.get(name) ?? 0, name).toBeGreaterThan(200);
  });
});
