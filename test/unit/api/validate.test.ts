import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { resolveTargeting } from "../../../src/api/targeting.js";
import {
  crossManifestProblems,
  expressionProblems,
  validateFeatureFlag,
  validateSegment,
} from "../../../src/api/validate.js";
import { flagManifest, invalidCases } from "../../fixtures/invalid-flags.js";

describe("validateFeatureFlag (offline, same schema as the CRD)", () => {
  it.each(invalidCases)("rejects $label, naming $field", ({ spec, field }) => {
    const problems = validateFeatureFlag(flagManifest("bad", spec));
    const fields = problems.map((p) => p.field);
    expect(
      fields.some((f) => f === field || f.startsWith(`${field}[`)),
      JSON.stringify(problems),
    ).toBe(true);
  });

  it("accepts every example manifest", () => {
    const dir = new URL("../../../examples/", import.meta.url);
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
      for (const doc of parseAllDocuments(readFileSync(new URL(file, dir), "utf8"))) {
        const object = doc.toJS() as { kind: string };
        const validate = object.kind === "Segment" ? validateSegment : validateFeatureFlag;
        expect(validate(object), file).toEqual([]);
      }
    }
  });

  it("accepts two-decimal percents that binary floating point cannot hold exactly", () => {
    for (const percent of [0.07, 0.29, 33.33, 99.99, 57.01]) {
      expect(
        validateFeatureFlag(flagManifest("fine", { enabled: true, rollout: { percent } })),
        `${percent}`,
      ).toEqual([]);
    }
  });

  it("names apiVersion, kind and metadata.name problems", () => {
    const problems = validateFeatureFlag({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {},
      spec: { enabled: true },
    });
    expect(problems.map((p) => p.field)).toEqual(["apiVersion", "kind", "metadata.name"]);
  });

  it("reports every problem of a manifest, not just the first", () => {
    const problems = validateFeatureFlag(
      flagManifest("bad", { enabled: "yes", rollout: { percent: 101 }, extra: 1 }),
    );
    expect(problems.map((p) => p.field).sort()).toEqual([
      "spec.enabled",
      "spec.extra",
      "spec.rollout.percent",
    ]);
  });
});

describe("targeting manifests (issue 18)", () => {
  let n = 0;
  const rule = (when: string, serve: Record<string, unknown> = { enabled: true }) => ({
    name: `r${n++}`,
    when,
    serve,
  });

  it("names the rule's field and the position in the expression when CEL does not compile", () => {
    const problems = validateFeatureFlag(
      flagManifest("bad-cel", {
        enabled: true,
        rules: [rule('country == "DE"'), rule('email.endsWith("@acme.com") && nosuch(email)')],
      }),
    );
    expect(problems).toEqual([
      {
        field: "spec.rules[1].when",
        message: "invalid CEL at 1:32: found no matching overload for 'nosuch(dyn)'",
      },
    ]);
    expect(
      validateFeatureFlag(flagManifest("syntax", { enabled: true, rules: [rule("plan ==\n  ")] })),
    ).toEqual([{ field: "spec.rules[0].when", message: "invalid CEL at 2:3: Unexpected token: EOF" }]);
  });

  it("enforces the CRD rules on rules and prerequisites", () => {
    const fields = (spec: Record<string, unknown>) =>
      validateFeatureFlag(flagManifest("f", { enabled: true, ...spec })).map(
        (p) => `${p.field}: ${p.message}`,
      );
    expect(fields({ rules: [rule("true", { enabled: true, percent: 5 })] })).toEqual([
      "spec.rules[0].serve: serve needs exactly one of enabled, variant or percent",
    ]);
    expect(fields({ rules: [{ name: "no-when", serve: { enabled: true } }] })).toEqual([
      "spec.rules[0]: a rule needs when, segments, or both",
    ]);
    expect(fields({ rules: [rule("true", { variant: "nope" })] })).toEqual([
      "spec: rules[].serve.variant must name one of the variants",
    ]);
    expect(
      fields({
        rules: [
          { ...rule("true"), name: "same" },
          { ...rule("false"), name: "same" },
        ],
      })[0],
    ).toMatch(/^spec\.rules\[1\]: Duplicate value/);
    expect(fields({ prerequisites: [{ flag: "a" }, { flag: "a" }] })[0]).toMatch(
      /^spec\.prerequisites\[1\]: Duplicate/,
    );
  });

  it("validates Segments: schema, rules and the when expression", () => {
    const segment = (spec: Record<string, unknown>) => ({
      apiVersion: "flagwright.dev/v1alpha1",
      kind: "Segment",
      metadata: { name: "beta" },
      spec,
    });
    expect(validateSegment(segment({ when: 'plan == "beta"', included: ["a"] }))).toEqual([]);
    expect(validateSegment(segment({ description: "empty" }))).toEqual([
      { field: "spec", message: "a segment needs when, included, or both" },
    ]);
    expect(validateSegment(segment({ when: "plan ===" }))[0]?.field).toBe("spec.when");
    expect(validateSegment(segment({ when: "x", extra: 1 }))[0]).toEqual({
      field: "spec.extra",
      message: "unknown field",
    });
  });
});

describe("constant arguments that can never work are refused at compile time", () => {
  const flagWith = (when: string) =>
    flagManifest("constant", { enabled: true, rules: [{ name: "r", when, serve: { enabled: true } }] });
  const refused: [string, string][] = [
    [
      'now >= timestamp("2024-13-45T99:00:00Z")',
      'invalid CEL at 1:18: timestamp("2024-13-45T99:00:00Z") can never work: month 13 does not exist',
    ],
    // The evaluator's Date parsing would silently roll this over to March 1.
    [
      'now >= timestamp("2025-02-29T09:00:00Z")',
      'invalid CEL at 1:18: timestamp("2025-02-29T09:00:00Z") can never work: 2025-02 has no day 29',
    ],
    [
      'now < timestamp("Mon, 01 Jan 2024 00:00:00 GMT")',
      'invalid CEL at 1:17: timestamp("Mon, 01 Jan 2024 00:00:00 GMT") can never work: not an RFC 3339 date and time such as "2027-01-15T09:00:00Z"',
    ],
    [
      'now - since > duration("1x")',
      'invalid CEL at 1:24: duration("1x") can never work: Invalid duration string: 1x',
    ],
    [
      'seats > int("abc")',
      'invalid CEL at 1:13: int("abc") can never work: int() type error: cannot convert to int',
    ],
    [
      'tags.exists(t, t == "beta") && uint(-1) > 0u',
      "invalid CEL at 1:37: uint(-1) can never work: uint() type error: cannot convert to uint",
    ],
    [
      'semverCompare(appVersion, "2.3") >= 0',
      'invalid CEL at 1:27: semverCompare can never work: "2.3" is not a semantic version (MAJOR.MINOR.PATCH[-pre][+build])',
    ],
  ];

  it.each(refused)("validate refuses %s, naming the field and the position", (when, message) => {
    expect(validateFeatureFlag(flagWith(when))).toEqual([{ field: "spec.rules[0].when", message }]);
  });

  it("the webhook's check and the operator refuse them too, in rules and in Segments", () => {
    const when = 'plan == "pro" &&\n  now >= timestamp("2024-13-45T99:00:00Z")';
    const message =
      'invalid CEL at 2:20: timestamp("2024-13-45T99:00:00Z") can never work: month 13 does not exist';
    expect(expressionProblems({ when })).toEqual([{ field: "spec.when", message }]);
    expect(expressionProblems({ rules: [{ when }] })).toEqual([{ field: "spec.rules[0].when", message }]);
    const resolution = resolveTargeting(
      new Map([
        ["by-rule", { enabled: true, rules: [{ name: "r", when, serve: { enabled: true } }] }],
        [
          "by-segment",
          { enabled: true, rules: [{ name: "r", segments: ["late"], serve: { enabled: true } }] },
        ],
      ]),
      new Map([["late", { when }]]),
    );
    expect(resolution.problems.get("by-rule")).toEqual({
      reason: "InvalidRule",
      message: `spec.rules[0].when: ${message}`,
    });
    expect(resolution.problems.get("by-segment")?.reason).toBe("InvalidSegment");
  });

  it("accepts constants that work, and conversions of context attributes", () => {
    for (const when of [
      'now >= timestamp("2024-02-29T00:00:00Z")',
      'now >= timestamp("2027-01-15T09:00:00.123+05:30")',
      'now - since > duration("1h30m")',
      'seats > int("42") && int(-1.5) == -1 && double("1.5") > 1.0 && bool("true")',
      'timestamp(signup) < now && int(seatsText) > 3 && semverCompare(appVersion, "2.3.0") >= 0',
    ]) {
      expect(validateFeatureFlag(flagWith(when)), when).toEqual([]);
    }
  });
});

describe("crossManifestProblems (validate's check of a set of manifests)", () => {
  const flag = (name: string, spec: Record<string, unknown>, namespace = "shop") => ({
    source: `${name}.yaml#0`,
    object: { kind: "FeatureFlag", metadata: { name, namespace }, spec: { enabled: true, ...spec } },
  });

  it("reports a chain of prerequisites deeper than the operator allows, on the flags at its head", () => {
    // f0 -> f1 -> ... -> f9: nine links.
    const chain = Array.from({ length: 10 }, (_, i) =>
      flag(`f${i}`, i < 9 ? { prerequisites: [{ flag: `f${i + 1}` }] } : {}),
    );
    expect(crossManifestProblems(chain)).toEqual([
      {
        source: "f0.yaml#0",
        name: "f0",
        severity: "error",
        field: "spec.prerequisites",
        message: "chain of 9 prerequisites exceeds the limit of 8",
      },
    ]);
  });

  it("resolves only within a namespace, and never throws on manifests of the wrong shape", () => {
    const problems = crossManifestProblems([
      flag("a", { prerequisites: [{ flag: "b" }] }, "shop"),
      flag("b", {}, "staging"),
      flag("broken", { rules: "x", prerequisites: [1, { flag: 2 }, null] }),
      flag("odd", { rules: [null, { segments: [3, "ghost"] }, { segments: ["shop-wide", "ghost"] }] }),
      flag("shifted", { prerequisites: [1, { flag: "ghost" }] }),
      { source: "null.yaml#0", object: null },
      { source: "nameless.yaml#0", object: { kind: "FeatureFlag", metadata: {}, spec: {} } },
      { source: "other.yaml#0", object: { kind: "ConfigMap", metadata: { name: "a" } } },
    ]);
    expect(problems.map((p) => `${p.source} ${p.field}: ${p.message}`)).toEqual([
      'a.yaml#0 spec.prerequisites[0].flag: no flag "b" in namespace "shop" of the manifests given',
      'odd.yaml#0 spec.rules[2].segments[0]: segment "shop-wide" not found in namespace "shop" of the manifests given',
    ]);
  });
});
