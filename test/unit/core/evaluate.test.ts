// Rule order (the seed article's): disabled/killed -> off; allow-listed -> on; percent >= 100 -> on;
// no user -> off; else bucket < percent. Each case below would change if two rules were swapped.
import { describe, expect, it } from "vitest";
import {
  bucketOf,
  evaluate,
  type FlagDocument,
  parseDocument,
  type ResolvedFlag,
} from "../../../src/core/index.js";

const base: ResolvedFlag = { enabled: true, killed: false, percent: 0, allowedUsers: [], revision: "f1" };
const variants = [
  { name: "red", weight: 50, value: { color: "#f00" } },
  { name: "blue", weight: 50 },
];

function docWith(flags: Record<string, Partial<ResolvedFlag>>): FlagDocument {
  const full = Object.fromEntries(Object.entries(flags).map(([k, f]) => [k, { ...base, ...f }]));
  return parseDocument({ version: 1, revision: "d1", namespace: "ns", flags: full });
}

// A user inside a 50 % rollout and one outside, for the flag key "f" (checked against bucketOf).
const inUser = Array.from({ length: 100 }, (_, i) => `u${i}`).find((u) => bucketOf("f", u) < 10) as string;
const outUser = Array.from({ length: 100 }, (_, i) => `u${i}`).find((u) => bucketOf("f", u) >= 90) as string;

describe("evaluate: rule order", () => {
  it("unknown flag -> ERROR / FLAG_NOT_FOUND", () => {
    const r = evaluate(docWith({}), "nope", { targetingKey: "u" });
    expect(r).toMatchObject({ reason: "ERROR", errorCode: "FLAG_NOT_FOUND", value: undefined });
    expect(r.errorMessage).toContain('"nope"');
  });

  it("disabled or killed beats the allow-list and 100 %", () => {
    const d = docWith({
      f: { enabled: false, percent: 100, allowedUsers: ["vip"] },
      k: { killed: true, percent: 100, allowedUsers: ["vip"] },
    });
    expect(evaluate(d, "f", { targetingKey: "vip" })).toMatchObject({
      value: false,
      variant: "off",
      reason: "DISABLED",
    });
    const killed = evaluate(d, "k", { targetingKey: "vip" });
    expect(killed).toMatchObject({ value: false, reason: "DISABLED", flagMetadata: { killed: true } });
  });

  it("allow-list beats percent 0 and the bucket", () => {
    const d = docWith({ f: { percent: 0, allowedUsers: [outUser] } });
    expect(evaluate(d, "f", { targetingKey: outUser })).toMatchObject({
      value: true,
      variant: "on",
      reason: "TARGETING_MATCH",
    });
    expect(evaluate(d, "f", { targetingKey: inUser })).toMatchObject({ value: false, reason: "STATIC" });
  });

  it("percent 100 is on without a user (STATIC); a variant flag at 100 % still splits", () => {
    const d = docWith({ f: { percent: 100 }, v: { percent: 100, variants } });
    expect(evaluate(d, "f", {})).toMatchObject({ value: true, variant: "on", reason: "STATIC" });
    expect(evaluate(d, "f", undefined)).toMatchObject({ value: true, reason: "STATIC" });
    expect(evaluate(d, "v", { targetingKey: "someone" }).reason).toBe("SPLIT");
    expect(evaluate(d, "v", {})).toMatchObject({ reason: "ERROR", errorCode: "TARGETING_KEY_MISSING" });
  });

  it("no user below 100 % -> off with TARGETING_KEY_MISSING; an empty key counts as none", () => {
    const d = docWith({ f: { percent: 50, defaultValue: "fallback" } });
    for (const ctx of [{}, { targetingKey: "" }, { targetingKey: null }]) {
      expect(evaluate(d, "f", ctx)).toMatchObject({
        value: "fallback",
        reason: "ERROR",
        errorCode: "TARGETING_KEY_MISSING",
      });
    }
    expect(evaluate(d, "f", { targetingKey: 42 })).toMatchObject({
      reason: "ERROR",
      errorCode: "INVALID_CONTEXT",
    });
  });

  it("percent 0 is off for everyone without needing a user (STATIC, the mirror of percent 100)", () => {
    const d = docWith({ f: { percent: 0 } });
    expect(evaluate(d, "f", {})).toMatchObject({ value: false, variant: "off", reason: "STATIC" });
  });

  it("bucket < percent -> on (SPLIT), else off (SPLIT)", () => {
    const d = docWith({ f: { percent: 50 } });
    expect(evaluate(d, "f", { targetingKey: inUser })).toMatchObject({
      value: true,
      variant: "on",
      reason: "SPLIT",
    });
    expect(evaluate(d, "f", { targetingKey: outUser })).toMatchObject({
      value: false,
      variant: "off",
      reason: "SPLIT",
    });
  });

  it("serves variant values (default: the name) and defaultValue when off", () => {
    const d = docWith({
      v: { percent: 100, variants },
      w: { percent: 0, variants, defaultValue: { color: "none" } },
      x: { percent: 0, variants },
    });
    const seen = new Map<string, unknown>();
    for (let i = 0; i < 50; i++) {
      const r = evaluate(d, "v", { targetingKey: `user-${i}` });
      seen.set(r.variant as string, r.value);
    }
    expect(Object.fromEntries(seen)).toEqual({ red: { color: "#f00" }, blue: "blue" });
    expect(evaluate(d, "w", { targetingKey: "a" })).toEqual(
      expect.objectContaining({ value: { color: "none" }, reason: "STATIC" }),
    );
    // A variant flag with no defaultValue has nothing to serve when off: an error that says so.
    const off = evaluate(d, "x", { targetingKey: "a" });
    expect(off).toMatchObject({ value: undefined, reason: "ERROR", errorCode: "GENERAL" });
    expect(off.errorMessage).toMatch(/flag "x" is off .*rollout at 0 %.* no defaultValue/);
    expect(off.variant).toBeUndefined();
  });

  it("allow-listed users of a variant flag get their hashed variant", () => {
    const d = docWith({
      v: { percent: 0, variants, allowedUsers: ["vip"] },
      all: { percent: 100, variants },
    });
    const r = evaluate(d, "v", { targetingKey: "vip" });
    expect(r.reason).toBe("TARGETING_MATCH");
    expect(r.variant).toBe(
      evaluate(docWith({ v: { percent: 100, variants } }), "v", { targetingKey: "vip" }).variant,
    );
  });

  it("carries flag and document revisions as metadata and returns shared results", () => {
    const d = docWith({ f: { percent: 100 } });
    const a = evaluate(d, "f", {});
    expect(a.flagMetadata).toEqual({ flagRevision: "f1", documentRevision: "d1" });
    expect(evaluate(d, "f", {})).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it("evaluates an unfrozen plain document by parsing it once", () => {
    const plain = {
      version: 1,
      revision: "d",
      namespace: "n",
      flags: { f: { ...base, percent: 100 } },
    } as FlagDocument;
    expect(evaluate(plain, "f", {}).value).toBe(true);
  });
});
