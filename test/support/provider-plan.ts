// One plan for the providers in other languages (Python, Java): a flag document, the evaluations
// to make through the official OFREP provider, and what each must answer (from our own core, which
// the seed vectors in test/unit/core pin to the article's function). The seed check itself, 1,000
// users against the article's function, is computed by Python's hashlib.
import { type EvaluationContext, evaluate, type FlagDocument } from "../../src/core/index.js";
import { makeDocument } from "./flag-documents.js";
import { seededRandom } from "./seeded-random.js";

export type FlagType = "boolean" | "string" | "integer" | "float" | "object";

export interface PlannedEvaluation {
  type: FlagType;
  key: string;
  default: unknown;
  targetingKey?: string;
}

export interface ProviderResult {
  key: string;
  value: unknown;
  variant: string | null | undefined;
  reason: string;
  errorCode: string | null | undefined;
}

export const SEED_FLAG = "new-checkout";
export const SEED_PERCENT = 37;

export function providerDocument(percent = SEED_PERCENT): FlagDocument {
  return makeDocument({
    [SEED_FLAG]: { percent },
    everyone: { percent: 100 },
    "kill-me": { percent: 100, killed: true },
    banner: {
      percent: 100,
      variants: [
        { name: "red", weight: 50, value: "#f00" },
        { name: "blue", weight: 50, value: "#00f" },
      ],
    },
    limits: {
      percent: 100,
      variants: [
        { name: "small", weight: 30, value: { max: 3, tags: ["a"] } },
        { name: "large", weight: 70, value: { max: 30, nested: { ok: true } } },
      ],
    },
    // Percent 0: STATIC. A prerequisite not served: TARGETING_MATCH (metadata.prerequisite).
    nobody: { percent: 0 },
    gated: { percent: 100, prerequisites: [{ flag: SEED_FLAG }] },
    // A variant flag without defaultValue: users outside the rollout get GENERAL (a 500).
    "no-default": {
      percent: 50,
      variants: [
        { name: "red", weight: 50, value: "#f00" },
        { name: "blue", weight: 50, value: "#00f" },
      ],
    },
  });
}

/** Users with varied ids (digits, letters, e-mail-like, unicode), the same on every run. */
export function seedUsers(n = 1000): string[] {
  const random = seededRandom(20);
  const shapes = [
    (i: number) => String(i),
    (i: number) => `user-${i}`,
    (_i: number) => `u${Math.floor(random() * 1e9)}@example.com`,
    (i: number) => `ünïcødé-${i}-${Math.floor(random() * 1e6)}`,
  ];
  return Array.from({ length: n }, (_, i) => (shapes[i % shapes.length] as (i: number) => string)(i));
}

export function providerEvaluations(): PlannedEvaluation[] {
  const users = seedUsers(12);
  return [
    ...users
      .slice(0, 4)
      .map((u) => ({ type: "boolean" as const, key: SEED_FLAG, default: false, targetingKey: u })),
    { type: "boolean", key: "everyone", default: false, targetingKey: "alice" },
    ...users.map((u) => ({ type: "string" as const, key: "banner", default: "none", targetingKey: u })),
    ...users
      .slice(0, 6)
      .map((u) => ({ type: "object" as const, key: "limits", default: { max: 0 }, targetingKey: u })),
    { type: "boolean", key: "kill-me", default: true, targetingKey: "alice" },
    { type: "boolean", key: "nobody", default: true, targetingKey: "alice" },
    ...users
      .slice(0, 4)
      .map((u) => ({ type: "boolean" as const, key: "gated", default: true, targetingKey: u })),
    ...users.map((u) => ({ type: "string" as const, key: "no-default", default: "none", targetingKey: u })),
    { type: "boolean", key: "no-such-flag", default: true, targetingKey: "alice" },
    { type: "string", key: "no-such-flag", default: "fallback", targetingKey: "alice" },
    // Missing targeting key on a partial rollout: the caller's default, TARGETING_KEY_MISSING.
    { type: "boolean", key: SEED_FLAG, default: true },
  ];
}

/** What the provider must report for `e`: the core's answer, or the default with its error code. */
export function expectedResult(doc: FlagDocument, e: PlannedEvaluation): Omit<ProviderResult, "key"> {
  const context: EvaluationContext = e.targetingKey === undefined ? {} : { targetingKey: e.targetingKey };
  const r = evaluate(doc, e.key, context);
  if (r.errorCode !== undefined) {
    return { value: e.default, variant: undefined, reason: "ERROR", errorCode: r.errorCode };
  }
  return { value: r.value, variant: r.variant, reason: r.reason, errorCode: undefined };
}
