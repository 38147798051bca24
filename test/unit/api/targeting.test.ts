// Operator-side targeting resolution (pure): rules and segments resolved per flag, the problems
// that give a flag Ready=False naming the field, and the document completion that never lets a
// flag point at a prerequisite or segment the document lacks.
import { describe, expect, it } from "vitest";
import type { FeatureFlagSpec, SegmentSpec } from "../../../src/api/index.js";
import { completeDocument, nextScheduledChange, resolveTargeting } from "../../../src/api/targeting.js";
import { buildDocument, parseDocument, type ResolvedFlag } from "../../../src/core/index.js";

const spec = (extra: Partial<FeatureFlagSpec> = {}): FeatureFlagSpec => ({ enabled: true, ...extra });
const beta: SegmentSpec = { when: 'plan == "beta"', included: ["friend"] };

describe("resolveTargeting", () => {
  it("resolves rules and the segments they name, and only those", () => {
    const r = resolveTargeting(
      new Map([
        ["f", spec({ rules: [{ name: "b", segments: ["beta"], serve: { enabled: true } }] })],
        ["plain", spec()],
      ]),
      new Map([
        ["beta", beta],
        ["unused", { included: ["x"] }],
      ]),
    );
    expect(r.problems.size).toBe(0);
    expect(r.targeting.get("f")).toEqual({
      rules: [{ name: "b", segments: ["beta"], serve: { enabled: true } }],
    });
    expect(r.targeting.get("plain")).toEqual({});
    expect(r.segments).toEqual({ beta: { when: 'plan == "beta"', included: ["friend"], excluded: [] } });
  });

  it("names the field of a missing segment, a bad expression, a missing prerequisite and a cycle", () => {
    const r = resolveTargeting(
      new Map([
        [
          "missing-seg",
          spec({ rules: [{ name: "r", when: "true", segments: ["ghost"], serve: { enabled: true } }] }),
        ],
        ["bad-when", spec({ rules: [{ name: "r", when: "country ==", serve: { enabled: true } }] })],
        ["bad-seg", spec({ rules: [{ name: "r", segments: ["broken"], serve: { enabled: true } }] })],
        ["no-prereq", spec({ prerequisites: [{ flag: "ghost" }] })],
        ["a", spec({ prerequisites: [{ flag: "b" }] })],
        ["b", spec({ prerequisites: [{ flag: "a" }] })],
        ["after-cycle", spec({ prerequisites: [{ flag: "a" }] })],
      ]),
      new Map([["broken", { when: "plan.", included: [] }]]),
    );
    expect(r.problems.get("missing-seg")).toEqual({
      reason: "SegmentNotFound",
      message: 'spec.rules[0].segments[0]: segment "ghost" not found in this namespace',
    });
    expect(r.problems.get("bad-when")?.reason).toBe("InvalidRule");
    expect(r.problems.get("bad-when")?.message).toMatch(/^spec\.rules\[0\]\.when: invalid CEL at 1:11: /);
    expect(r.problems.get("bad-seg")?.message).toMatch(
      /^spec\.rules\[0\]\.segments\[0\]: segment "broken": spec\.when: invalid CEL at 1:\d+: /,
    );
    expect(r.problems.get("no-prereq")).toEqual({
      reason: "PrerequisiteNotFound",
      message: 'spec.prerequisites[0].flag: no flag "ghost" in this namespace',
    });
    expect(r.problems.get("a")).toEqual({
      reason: "PrerequisiteCycle",
      message: "spec.prerequisites: cycle a -> b -> a",
    });
    expect(r.problems.get("b")?.reason).toBe("PrerequisiteCycle");
    // A flag that only depends on a cycle is not itself on it; completeDocument leaves it out
    // if its prerequisite ends up not projected.
    expect(r.problems.has("after-cycle")).toBe(false);
  });

  it("gives Ready=False naming the field for a rule over the cost limit or a pattern RE2 refuses", () => {
    const ok = (name: string) => ({ name, when: 'country == "DE"', serve: { enabled: true } });
    const r = resolveTargeting(
      new Map([
        [
          "costly",
          spec({
            rules: [
              ok("de"),
              ok("de-too"),
              { name: "cross", when: "tags.map(a, tags.map(b, a + b)).size() > 0", serve: { enabled: true } },
            ],
          }),
        ],
        [
          "lookahead",
          spec({ rules: [{ name: "r", when: 'email.matches("(?=a)")', serve: { enabled: true } }] }),
        ],
        ["heavy-seg", spec({ rules: [{ name: "r", segments: ["heavy"], serve: { enabled: true } }] })],
      ]),
      new Map([["heavy", { when: 'tags.all(a, tags.all(b, tags.all(c, a + b + c != "")))', included: [] }]]),
    );
    expect(r.problems.get("costly")?.reason).toBe("InvalidRule");
    expect(r.problems.get("costly")?.message).toMatch(
      /^spec\.rules\[2\]\.when: invalid CEL at 1:1: estimated cost [\d,]+ exceeds the limit of 1,000,000/,
    );
    expect(r.problems.get("lookahead")?.message).toMatch(
      /^spec\.rules\[0\]\.when: invalid CEL at 1:15: matches\(\): RE2 refuses the pattern/,
    );
    expect(r.problems.get("heavy-seg")?.message).toMatch(
      /^spec\.rules\[0\]\.segments\[0\]: segment "heavy": spec\.when: invalid CEL at 1:1: estimated cost/,
    );
    expect(r.targeting.has("costly")).toBe(false);
  });

  it("bounds prerequisite depth", () => {
    const chain = new Map(
      Array.from({ length: 12 }, (_, i) => [
        `f${i}`,
        spec(i < 11 ? { prerequisites: [{ flag: `f${i + 1}` }] } : {}),
      ]),
    );
    const r = resolveTargeting(chain, new Map());
    expect(r.problems.get("f0")?.reason).toBe("PrerequisiteTooDeep");
    expect(r.problems.has("f5")).toBe(false);
  });
});

describe("completeDocument", () => {
  const flag = (extra: Partial<ResolvedFlag> = {}): ResolvedFlag => ({
    enabled: true,
    killed: false,
    percent: 100,
    allowedUsers: [],
    revision: "r",
    ...extra,
  });

  it("drops flags whose prerequisite is not projected, transitively, and the result parses", () => {
    const flags = {
      a: flag({ prerequisites: [{ flag: "gone" }] }),
      b: flag({ prerequisites: [{ flag: "a" }] }),
      c: flag({ rules: [{ name: "r", segments: ["beta"], serve: { enabled: true } }] }),
    };
    const { segments, dropped } = completeDocument(flags, {}, { beta: { included: ["x"], excluded: [] } });
    expect([...dropped.keys()].sort()).toEqual(["a", "b"]);
    expect(Object.keys(flags)).toEqual(["c"]);
    // The segment came from the last good document.
    expect(segments).toEqual({ beta: { included: ["x"], excluded: [] } });
    expect(() =>
      parseDocument(JSON.stringify(buildDocument("ns", flags, undefined, segments))),
    ).not.toThrow();
  });
});

describe("nextScheduledChange", () => {
  it("is the earliest future timestamp literal of an expression that reads now, segments included", () => {
    const now = new Date("2027-01-01T00:00:00Z");
    const rules = [
      { name: "a", when: 'now >= timestamp("2027-03-01T00:00:00Z")', serve: { enabled: true } },
      {
        name: "b",
        when: 'country == "DE" && now < timestamp("2026-12-01T00:00:00Z")',
        serve: { enabled: true },
      },
      { name: "c", when: 'created > timestamp("2027-01-02T00:00:00Z")', serve: { enabled: true } },
      { name: "d", segments: ["launch"], serve: { enabled: true } },
    ];
    const segments = new Map([["launch", { when: "now >= timestamp('2027-02-01T09:00:00Z')" }]]);
    expect(nextScheduledChange({ rules }, segments, now)?.toISOString()).toBe("2027-02-01T09:00:00.000Z");
    expect(nextScheduledChange({ rules }, new Map(), now)?.toISOString()).toBe("2027-03-01T00:00:00.000Z");
    // Past instants and expressions without now do not count.
    expect(nextScheduledChange({ rules: rules.slice(1, 3) }, new Map(), now)).toBeUndefined();
  });
});
