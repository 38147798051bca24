// Every kind of flag and answer the sidecar has, with the OFREP answer each must get: the table
// the conformance test (ofrep-conformance.test.ts) and the provider agreement test
// (ofrep-providers-agree.test.ts) both run. The expected reasons are the documented choice
// (docs/reference.md, "OFREP conformance"), written out here rather than computed.
import { buildDocument, evaluate, type FlagDocument, type ResolvedFlag } from "../../../src/core/index.js";
import { flag } from "./helpers.js";

const variantsAB = [
  { name: "red", weight: 50, value: "#f00" },
  { name: "blue", weight: 50, value: "#00f" },
];

const flags: Record<string, Partial<ResolvedFlag>> = {
  on: { percent: 100 },
  disabled: { enabled: false, percent: 100 },
  half: { percent: 50 },
  nobody: { percent: 0 },
  vip: { percent: 0, allowedUsers: ["alice"] },
  rules: {
    percent: 0,
    rules: [
      { name: "blocked", when: 'country == "KP"', serve: { enabled: false } },
      { name: "beta", when: "beta == true", serve: { enabled: true } },
      { name: "pro", when: 'plan == "pro"', serve: { percent: 50 } },
    ],
  },
  theme: {
    percent: 100,
    variants: variantsAB,
    defaultValue: "#000",
    rules: [{ name: "staff", when: 'email.endsWith("@acme.com")', serve: { variant: "blue" } }],
  },
  segmented: { percent: 0, rules: [{ name: "testers", segments: ["testers"], serve: { enabled: true } }] },
  prereq: { percent: 100, prerequisites: [{ flag: "half" }] },
  banner: { percent: 100, variants: variantsAB, defaultValue: "#000" },
  colour: {
    percent: 100,
    variants: [
      { name: "green", weight: 50 },
      { name: "yellow", weight: 50 },
    ],
    defaultValue: "none",
  },
  ratio: {
    percent: 100,
    variants: [
      { name: "whole", weight: 50, value: 3 },
      { name: "fraction", weight: 50, value: 0.25 },
    ],
    defaultValue: 1,
  },
  limits: {
    percent: 100,
    variants: [
      { name: "small", weight: 50, value: { max: 3, tags: ["a"] } },
      { name: "large", weight: 50, value: { max: 30, nested: { ok: true } } },
    ],
    defaultValue: { max: 0 },
  },
  "off-with-default": { percent: 0, variants: variantsAB, defaultValue: "#000" },
  // Variant flags without defaultValue: no value to serve while off.
  "no-default": { percent: 50, variants: variantsAB },
  "killed-no-default": { killed: true, percent: 100, variants: variantsAB },
  killed: { killed: true, percent: 100 },
  // The operator's automatic rollback: killed, percent back to 0.
  "rolled-back": { killed: true, percent: 0 },
  // Stale (constant for staleAfter) is an operator status; the document serves it as it is.
  stale: { percent: 100 },
};

export const casesDocument: FlagDocument = buildDocument(
  "shop",
  Object.fromEntries(Object.entries(flags).map(([k, f]) => [k, flag(f)])),
  undefined,
  { testers: { included: ["seg-user"], excluded: [], when: 'plan == "team"' } },
);

/** A user the flag's default rollout serves on (`on`) or not. */
function userFor(key: string, on: boolean): string {
  for (let i = 0; i < 1000; i++) {
    const user = `user-${i}`;
    const r = evaluate(casesDocument, key, { targetingKey: user });
    if (r.errorCode === undefined && (r.variant !== undefined && r.variant !== "off") === on) return user;
    if (r.errorCode === "GENERAL" && !on) return user;
  }
  throw new Error(`no user ${on ? "in" : "out of"} ${key}'s rollout`);
}

export const USER_IN_HALF = userFor("half", true);
export const USER_OUT_OF_HALF = userFor("half", false);
// Same bucket for the rule's serve.percent 50 as for a 50 % rollout of the same flag key.
const rulesDoc = buildDocument("shop", { rules: flag({ percent: 50 }) });
const pickRules = (on: boolean) => {
  for (let i = 0; ; i++) {
    const user = `pro-${i}`;
    if (evaluate(rulesDoc, "rules", { targetingKey: user }).value === on) return user;
  }
};
export const PRO_IN = pickRules(true);
export const PRO_OUT = pickRules(false);
export const NO_DEFAULT_IN = userFor("no-default", true);
export const NO_DEFAULT_OUT = userFor("no-default", false);

export interface OfrepCase {
  /** What the case is, for test names. */
  name: string;
  key: string;
  /** The request body (sent as JSON). */
  body: unknown;
  status: number;
  /** Success: the reason; failure: the errorCode. */
  reason?: string;
  errorCode?: string;
  value?: unknown;
  variant?: string;
  metadata?: Record<string, unknown>;
  /** A pattern errorDetails must match. */
  details?: RegExp;
}

const ctx = (context: Record<string, unknown>) => ({ context });
const alice = ctx({ targetingKey: "alice" });

export const cases: OfrepCase[] = [
  {
    name: "boolean on (100 %)",
    key: "on",
    body: alice,
    status: 200,
    reason: "STATIC",
    value: true,
    variant: "on",
  },
  {
    name: "boolean off (disabled)",
    key: "disabled",
    body: alice,
    status: 200,
    reason: "DISABLED",
    value: false,
    variant: "off",
  },
  {
    name: "percent rollout, user in",
    key: "half",
    body: ctx({ targetingKey: USER_IN_HALF }),
    status: 200,
    reason: "SPLIT",
    value: true,
  },
  {
    name: "percent rollout, user out",
    key: "half",
    body: ctx({ targetingKey: USER_OUT_OF_HALF }),
    status: 200,
    reason: "SPLIT",
    value: false,
  },
  { name: "0 %", key: "nobody", body: alice, status: 200, reason: "STATIC", value: false, variant: "off" },
  { name: "allow-listed", key: "vip", body: alice, status: 200, reason: "TARGETING_MATCH", value: true },
  {
    name: "not allow-listed at 0 %",
    key: "vip",
    body: ctx({ targetingKey: "bob" }),
    status: 200,
    reason: "STATIC",
    value: false,
  },
  {
    name: "rule match serving on",
    key: "rules",
    body: ctx({ targetingKey: "u", beta: true }),
    status: 200,
    reason: "TARGETING_MATCH",
    value: true,
    metadata: { rule: "beta" },
  },
  {
    name: "rule match serving off",
    key: "rules",
    body: ctx({ targetingKey: "u", country: "KP", beta: true }),
    status: 200,
    reason: "TARGETING_MATCH",
    value: false,
    metadata: { rule: "blocked" },
  },
  {
    name: "rule match serving a variant",
    key: "theme",
    body: ctx({ targetingKey: "u", email: "a@acme.com" }),
    status: 200,
    reason: "TARGETING_MATCH",
    value: "#00f",
    variant: "blue",
    metadata: { rule: "staff" },
  },
  {
    name: "rule match with a percentage, user in",
    key: "rules",
    body: ctx({ targetingKey: PRO_IN, plan: "pro" }),
    status: 200,
    reason: "TARGETING_MATCH",
    value: true,
    metadata: { rule: "pro" },
  },
  {
    name: "rule match with a percentage, user out",
    key: "rules",
    body: ctx({ targetingKey: PRO_OUT, plan: "pro" }),
    status: 200,
    reason: "TARGETING_MATCH",
    value: false,
    metadata: { rule: "pro" },
  },
  {
    name: "no rule matched, default rollout 0 %",
    key: "rules",
    body: ctx({ targetingKey: "u", plan: "free" }),
    status: 200,
    reason: "STATIC",
    value: false,
  },
  {
    name: "segment member (included)",
    key: "segmented",
    body: ctx({ targetingKey: "seg-user" }),
    status: 200,
    reason: "TARGETING_MATCH",
    value: true,
    metadata: { rule: "testers" },
  },
  {
    name: "segment member (by its rule)",
    key: "segmented",
    body: ctx({ targetingKey: "u", plan: "team" }),
    status: 200,
    reason: "TARGETING_MATCH",
    value: true,
  },
  {
    name: "not in the segment",
    key: "segmented",
    body: ctx({ targetingKey: "u", plan: "free" }),
    status: 200,
    reason: "STATIC",
    value: false,
  },
  {
    name: "prerequisite met",
    key: "prereq",
    body: ctx({ targetingKey: USER_IN_HALF }),
    status: 200,
    reason: "STATIC",
    value: true,
  },
  {
    name: "prerequisite failed",
    key: "prereq",
    body: ctx({ targetingKey: USER_OUT_OF_HALF }),
    status: 200,
    reason: "TARGETING_MATCH",
    value: false,
    variant: "off",
    metadata: { prerequisite: "half" },
  },
  ...["alice", "bob", "carol"].map(
    (user): OfrepCase => ({
      name: `A/B variants with values (${user})`,
      key: "banner",
      body: ctx({ targetingKey: user }),
      status: 200,
      reason: "SPLIT",
    }),
  ),
  ...["alice", "bob", "carol"].map(
    (user): OfrepCase => ({
      name: `A/B variants without values (${user})`,
      key: "colour",
      body: ctx({ targetingKey: user }),
      status: 200,
      reason: "SPLIT",
    }),
  ),
  ...["alice", "bob", "carol", "dave"].map(
    (user): OfrepCase => ({
      name: `A/B variants with integer and float values (${user})`,
      key: "ratio",
      body: ctx({ targetingKey: user }),
      status: 200,
      reason: "SPLIT",
    }),
  ),
  {
    name: "A/B variants with object values",
    key: "limits",
    body: alice,
    status: 200,
    reason: "SPLIT",
  },
  {
    name: "variant flag off, with defaultValue",
    key: "off-with-default",
    body: alice,
    status: 200,
    reason: "STATIC",
    value: "#000",
  },
  {
    name: "variant flag without defaultValue, user in",
    key: "no-default",
    body: ctx({ targetingKey: NO_DEFAULT_IN }),
    status: 200,
    reason: "SPLIT",
  },
  {
    name: "variant flag without defaultValue, user out",
    key: "no-default",
    body: ctx({ targetingKey: NO_DEFAULT_OUT }),
    status: 500,
    errorCode: "GENERAL",
    details: /"no-default".*defaultValue/,
  },
  {
    name: "variant flag without defaultValue, killed",
    key: "killed-no-default",
    body: alice,
    status: 500,
    errorCode: "GENERAL",
    details: /"killed-no-default".*killed.*defaultValue/,
  },
  {
    name: "killed",
    key: "killed",
    body: alice,
    status: 200,
    reason: "DISABLED",
    value: false,
    metadata: { killed: true },
  },
  {
    name: "rolled back",
    key: "rolled-back",
    body: alice,
    status: 200,
    reason: "DISABLED",
    value: false,
    metadata: { killed: true },
  },
  { name: "stale", key: "stale", body: alice, status: 200, reason: "STATIC", value: true },
  { name: "missing flag", key: "no-such-flag", body: alice, status: 404, errorCode: "FLAG_NOT_FOUND" },
  {
    name: "bad context: targetingKey not a string",
    key: "half",
    body: ctx({ targetingKey: 42 }),
    status: 400,
    errorCode: "INVALID_CONTEXT",
  },
  {
    name: "bad context: context not an object",
    key: "on",
    body: { context: ["alice"] },
    status: 400,
    errorCode: "INVALID_CONTEXT",
  },
  {
    name: "empty targetingKey where a user is needed",
    key: "half",
    body: ctx({ targetingKey: "" }),
    status: 400,
    errorCode: "TARGETING_KEY_MISSING",
  },
];
