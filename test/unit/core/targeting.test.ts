// Targeting (issue 18): allow-list -> prerequisites -> rules (first match wins) -> default rollout.
// Each case would change if two steps were swapped or a rule's semantics changed.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bucketOf,
  buildDocument,
  evaluate,
  type FlagDocument,
  fineBucketOf,
  parseDocument,
  type ResolvedFlag,
  type ResolvedSegment,
  servedBySplit,
} from "../../../src/core/index.js";

const base: ResolvedFlag = { enabled: true, killed: false, percent: 0, allowedUsers: [], revision: "f1" };
const variants = [
  { name: "red", weight: 50 },
  { name: "blue", weight: 50 },
];

function docWith(
  flags: Record<string, Partial<ResolvedFlag>>,
  segments?: Record<string, ResolvedSegment>,
): FlagDocument {
  const full = Object.fromEntries(Object.entries(flags).map(([k, f]) => [k, { ...base, ...f }]));
  return parseDocument({
    version: 2,
    revision: "d1",
    namespace: "ns",
    flags: full,
    ...(segments ? { segments } : {}),
  });
}

const employees = { name: "employees", when: 'email.endsWith("@acme.com")', serve: { enabled: true } };

describe("rules", () => {
  it("first match wins, in order, and reports the rule", () => {
    const d = docWith({
      f: {
        rules: [
          { name: "blocked", when: 'country == "KP"', serve: { enabled: false } },
          employees,
          { name: "eu", when: 'country in ["DE", "FR"]', serve: { enabled: false } },
        ],
      },
    });
    // Matches employees and eu: the earlier one decides.
    expect(evaluate(d, "f", { targetingKey: "u", email: "a@acme.com", country: "DE" })).toMatchObject({
      value: true,
      variant: "on",
      reason: "TARGETING_MATCH",
      flagMetadata: { rule: "employees" },
    });
    expect(evaluate(d, "f", { targetingKey: "u", email: "a@acme.com", country: "KP" })).toMatchObject({
      value: false,
      reason: "TARGETING_MATCH",
      flagMetadata: { rule: "blocked" },
    });
    // No rule matches: the default rollout (percent 0) decides.
    expect(evaluate(d, "f", { targetingKey: "u", email: "a@b.com", country: "US" })).toMatchObject({
      value: false,
      reason: "STATIC",
    });
  });

  it("kill and disable win over rules; the allow-list comes before rules", () => {
    const rules = [{ name: "nobody", when: "true", serve: { enabled: false } }];
    const d = docWith({
      k: { killed: true, rules: [employees] },
      a: { allowedUsers: ["vip"], rules },
    });
    expect(evaluate(d, "k", { targetingKey: "u", email: "a@acme.com" }).reason).toBe("DISABLED");
    expect(evaluate(d, "a", { targetingKey: "vip" })).toMatchObject({
      value: true,
      reason: "TARGETING_MATCH",
    });
    expect(evaluate(d, "a", { targetingKey: "vip" }).flagMetadata?.rule).toBeUndefined();
    expect(evaluate(d, "a", { targetingKey: "x" })).toMatchObject({
      value: false,
      flagMetadata: { rule: "nobody" },
    });
  });

  it("a missing attribute or a wrongly typed one makes the rule not match, never an error", () => {
    const d = docWith({
      f: {
        percent: 0,
        rules: [
          { name: "v", when: 'semverCompare(appVersion, "2.3.0") >= 0', serve: { enabled: true } },
          { name: "s", when: 'plan.lower() == "enterprise"', serve: { enabled: true } },
          { name: "n", when: "seats > 100", serve: { enabled: true } },
        ],
      },
    });
    for (const context of [
      {},
      { targetingKey: "u" },
      { targetingKey: "u", appVersion: "not-a-version" },
      { targetingKey: "u", appVersion: 23 },
      { targetingKey: "u", plan: null },
      { targetingKey: "u", plan: ["enterprise"] },
      { targetingKey: "u", seats: "many" },
      { targetingKey: "u", seats: { n: 1 } },
    ]) {
      const r = evaluate(d, "f", context);
      expect(r.flagMetadata?.rule, JSON.stringify(context)).toBeUndefined();
      expect(r.errorCode === undefined || r.errorCode === "TARGETING_KEY_MISSING").toBe(true);
    }
    expect(evaluate(d, "f", { targetingKey: "u", appVersion: "2.10.0" }).flagMetadata?.rule).toBe("v");
    expect(
      evaluate(d, "f", { targetingKey: "u", appVersion: "2.3.0-rc.1" }).flagMetadata?.rule,
    ).toBeUndefined();
    expect(evaluate(d, "f", { targetingKey: "u", plan: "Enterprise" }).flagMetadata?.rule).toBe("s");
    expect(evaluate(d, "f", { targetingKey: "u", seats: 101 }).flagMetadata?.rule).toBe("n");
  });

  it("never throws on arbitrary contexts (fast-check)", () => {
    const d = docWith({
      f: {
        variants,
        percent: 50,
        rules: [
          {
            name: "a",
            when: 'email.endsWith("@acme.com") && country in ["DE", "FR"]',
            serve: { variant: "red" },
          },
          {
            name: "b",
            when: 'tags.exists(t, t == "beta") || semverCompare(v, "1.0.0") > 0',
            serve: { percent: 30 },
          },
        ],
      },
    });
    const value = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string()),
    );
    fc.assert(
      fc.property(
        fc.record(
          {
            targetingKey: fc.option(fc.string(), { nil: undefined }),
            email: value,
            country: value,
            tags: value,
            v: value,
          },
          { requiredKeys: [] },
        ),
        (context) => {
          const r = evaluate(d, "f", context);
          expect(["TARGETING_MATCH", "SPLIT", "ERROR", "STATIC"]).toContain(r.reason);
        },
      ),
      { seed: 18, numRuns: 3000 },
    );
  });

  it("serves a fixed variant, or splits variants by weight when it serves on", () => {
    const d = docWith({
      f: {
        variants,
        percent: 0,
        rules: [
          { name: "red-team", when: 'team == "red"', serve: { variant: "red" } },
          { name: "staff", when: "staff", serve: { enabled: true } },
        ],
      },
    });
    const users = Array.from({ length: 400 }, (_, i) => `user-${i}`);
    const fixed = users.map((u) => evaluate(d, "f", { targetingKey: u, team: "red" }));
    expect(new Set(fixed.map((r) => r.variant))).toEqual(new Set(["red"]));
    const split = users.map((u) => evaluate(d, "f", { targetingKey: u, staff: true }));
    expect(new Set(split.map((r) => r.variant))).toEqual(new Set(["red", "blue"]));
    // Experiments count only the weighted split as exposures.
    expect(fixed.some(servedBySplit)).toBe(false);
    expect(split.every(servedBySplit)).toBe(true);
  });

  it("a percent inside a rule is monotonic as it grows and uses the seed's bucket", () => {
    const users = Array.from({ length: 2000 }, (_, i) => `u${i}`);
    const at = (percent: number) => {
      const d = docWith({ f: { rules: [{ name: "r", when: "beta", serve: { percent } }] } });
      return new Set(users.filter((u) => evaluate(d, "f", { targetingKey: u, beta: true }).value === true));
    };
    let previous = new Set<string>();
    for (const p of [0, 0.5, 1, 5, 25, 50, 99.99, 100]) {
      const current = at(p);
      for (const u of previous) expect(current.has(u), `${u} left at ${p}%`).toBe(true);
      for (const u of current) expect(fineBucketOf("f", u)).toBeLessThan(p * 100);
      previous = current;
    }
    expect(previous.size).toBe(users.length);
    // Whole percents keep the seed article's bucket.
    for (const u of at(25)) expect(bucketOf("f", u)).toBeLessThan(25);
  });

  it("now-based rules flip at the instant, without a new document", () => {
    const d = docWith({
      launch: {
        rules: [
          { name: "launch", when: 'now >= timestamp("2027-01-15T09:00:00Z")', serve: { enabled: true } },
        ],
      },
    });
    const before = () => new Date("2027-01-15T08:59:59.999Z");
    const at = () => new Date("2027-01-15T09:00:00.000Z");
    expect(evaluate(d, "launch", { targetingKey: "u" }, before).value).toBe(false);
    expect(evaluate(d, "launch", { targetingKey: "u" }, at)).toMatchObject({
      value: true,
      flagMetadata: { rule: "launch" },
    });
    const window = docWith({
      w: {
        rules: [
          {
            name: "first-day",
            when: 'now - timestamp("2027-01-15T09:00:00Z") < duration("24h") && now >= timestamp("2027-01-15T09:00:00Z")',
            serve: { enabled: true },
          },
        ],
      },
    });
    expect(evaluate(window, "w", {}, () => new Date("2027-01-16T08:59:59Z")).value).toBe(true);
    expect(evaluate(window, "w", {}, () => new Date("2027-01-16T09:00:00Z")).value).toBe(false);
  });

  it("CEL type names are the types, not context attributes the context must carry", () => {
    const typed = (when: string) =>
      docWith({ t: { rules: [{ name: "typed", when, serve: { enabled: true } }] } });
    const matches = (when: string, context: Record<string, unknown>) =>
      evaluate(typed(when), "t", { targetingKey: "u", ...context }).flagMetadata?.rule === "typed";
    expect(matches("type(country) == string", { country: "DE" })).toBe(true);
    expect(matches("type(country) == string", { country: 49 })).toBe(false);
    // JSON numbers are CEL doubles.
    expect(matches("type(seats) == double", { seats: 5 })).toBe(true);
    expect(matches("type(seats) == int", { seats: 5 })).toBe(false);
    expect(matches("type(admin) == bool", { admin: false })).toBe(true);
    expect(matches("type(tags) == list && type(address) == map", { tags: [], address: {} })).toBe(true);
    expect(matches("type(type(plan)) == type", { plan: "pro" })).toBe(true);
    expect(matches("type(timestamp(at)) == google.protobuf.Timestamp", { at: "2027-01-15T09:00:00Z" })).toBe(
      true,
    );
    expect(matches("type(duration(d)) == google.protobuf.Duration", { d: "1h" })).toBe(true);
    expect(matches("type(n) == uint || type(n) == bytes || type(n) == null_type", { n: "x" })).toBe(false);
    // A type name still does not make a missing attribute match.
    expect(matches("type(country) == string", {})).toBe(false);
  });
});

describe("segments", () => {
  const segments: Record<string, ResolvedSegment> = {
    beta: { when: 'plan == "beta"', included: ["friend"], excluded: ["troll"] },
    staff: { included: ["alice"], excluded: [] },
  };
  const d = docWith(
    { f: { rules: [{ name: "testers", segments: ["beta", "staff"], serve: { enabled: true } }] } },
    segments,
  );

  it("included wins over when, excluded wins over both, any listed segment matches", () => {
    const rule = (context: Record<string, unknown>) => evaluate(d, "f", context).flagMetadata?.rule;
    expect(rule({ targetingKey: "friend" })).toBe("testers");
    expect(rule({ targetingKey: "x", plan: "beta" })).toBe("testers");
    expect(rule({ targetingKey: "troll", plan: "beta" })).toBeUndefined();
    expect(rule({ targetingKey: "alice" })).toBe("testers");
    expect(rule({ targetingKey: "x", plan: "free" })).toBeUndefined();
    expect(rule({ plan: "beta" })).toBe("testers");
  });

  it("a rule with segments and when needs both", () => {
    const both = docWith(
      {
        f: { rules: [{ name: "r", segments: ["beta"], when: 'country == "DE"', serve: { enabled: true } }] },
      },
      segments,
    );
    expect(evaluate(both, "f", { targetingKey: "friend", country: "DE" }).value).toBe(true);
    expect(evaluate(both, "f", { targetingKey: "friend", country: "FR" }).value).toBe(false);
  });
});

describe("prerequisites", () => {
  it("off unless each prerequisite serves on (or the named variant) for the same context", () => {
    const d = docWith({
      checkout: { variants, percent: 100 },
      payments: { rules: [{ name: "de", when: 'country == "DE"', serve: { enabled: true } }] },
      f: {
        percent: 100,
        prerequisites: [{ flag: "payments" }, { flag: "checkout", variant: "red" }],
      },
    });
    const redUser = Array.from({ length: 100 }, (_, i) => `u${i}`).find(
      (u) => evaluate(d, "checkout", { targetingKey: u }).variant === "red",
    ) as string;
    const blueUser = Array.from({ length: 100 }, (_, i) => `u${i}`).find(
      (u) => evaluate(d, "checkout", { targetingKey: u }).variant === "blue",
    ) as string;
    expect(evaluate(d, "f", { targetingKey: redUser, country: "DE" })).toMatchObject({
      value: true,
      reason: "STATIC",
    });
    expect(evaluate(d, "f", { targetingKey: redUser, country: "FR" })).toMatchObject({
      value: false,
      reason: "TARGETING_MATCH",
      flagMetadata: { prerequisite: "payments" },
    });
    expect(evaluate(d, "f", { targetingKey: blueUser, country: "DE" })).toMatchObject({
      value: false,
      flagMetadata: { prerequisite: "checkout" },
    });
  });

  it("the document refuses cycles and missing prerequisites or segments, naming the field", () => {
    const problems = (flags: Record<string, Partial<ResolvedFlag>>) => {
      try {
        docWith(flags);
      } catch (error) {
        return (error as { problems: string[] }).problems;
      }
      return [];
    };
    expect(
      problems({ a: { prerequisites: [{ flag: "b" }] }, b: { prerequisites: [{ flag: "a" }] } }),
    ).toEqual(['flags["a"].prerequisites: cycle a -> b -> a']);
    expect(problems({ a: { prerequisites: [{ flag: "zz" }] } })).toEqual([
      'flags["a"].prerequisites[0].flag: flag "zz" is not in the document',
    ]);
    expect(problems({ a: { rules: [{ name: "r", segments: ["nope"], serve: { enabled: true } }] } })).toEqual(
      ['flags["a"].rules[0].segments[0]: segment "nope" is not in the document'],
    );
    expect(
      problems({
        a: { rules: [{ name: "r", when: 'email.endsWith("x") &&', serve: { enabled: true } }] },
      })[0],
    ).toMatch(/^flags\["a"\]\.rules\[0\]\.when: 1:\d+: /);
  });
});

describe("no-rule flags", () => {
  it("evaluate exactly as without targeting, and their documents stay version 1", () => {
    const flag: ResolvedFlag = { ...base, percent: 37.5, variants, revision: "r" };
    const plain = buildDocument("ns", { f: flag });
    expect(plain.version).toBe(1);
    const withRule = buildDocument("ns", {
      f: flag,
      g: { ...base, rules: [{ name: "x", when: "never", serve: { enabled: true } }] },
    });
    expect(withRule.version).toBe(2);
    const [a, b] = [parseDocument(plain), parseDocument(withRule)];
    const same = (r: ReturnType<typeof evaluate>) => ({
      ...r,
      flagMetadata: { ...r.flagMetadata, documentRevision: "" },
    });
    for (let i = 0; i < 2000; i++) {
      const context = { targetingKey: `user-${i}`, email: "a@acme.com" };
      expect(same(evaluate(b, "f", context))).toEqual(same(evaluate(a, "f", context)));
    }
  });
});
