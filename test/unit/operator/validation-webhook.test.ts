// The validation webhook's decision (pure): refuse only FeatureFlags and Segments whose CEL does
// not compile, naming every bad field; allow everything else, deletes included.
import { describe, expect, it } from "vitest";
import { validationReview } from "../../../src/operator/validation-webhook.js";

const review = (object: unknown, operation = "CREATE") => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: { uid: "u-1", operation, object },
});
const flag = (rules: unknown[]) => ({
  kind: "FeatureFlag",
  metadata: { name: "f" },
  spec: { enabled: true, rules },
});

describe("validationReview", () => {
  it("refuses with every bad expression's field, position and message", () => {
    const answer = validationReview(
      review(
        flag([
          { name: "a", when: "country ==", serve: { enabled: true } },
          { name: "b", when: "true", serve: { enabled: true } },
          { name: "c", when: "x.lower() == 1 +", serve: { enabled: true } },
        ]),
      ),
    );
    expect(answer.response.uid).toBe("u-1");
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status?.code).toBe(422);
    expect(answer.response.status?.message).toMatch(
      /^FeatureFlag f is invalid: spec\.rules\[0\]\.when: invalid CEL at 1:11: .*; spec\.rules\[2\]\.when: invalid CEL at 1:\d+: /,
    );
  });

  it("allows valid objects, other kinds and deletes", () => {
    expect(
      validationReview(review(flag([{ name: "a", when: "true", serve: { enabled: true } }]))).response
        .allowed,
    ).toBe(true);
    expect(
      validationReview(review({ kind: "Segment", spec: { when: "(" } }, "DELETE")).response.allowed,
    ).toBe(true);
    expect(validationReview(review({ kind: "ConfigMap", spec: { when: "(" } })).response.allowed).toBe(true);
    expect(
      validationReview(review({ kind: "Segment", metadata: { name: "s" }, spec: { when: "(" } })).response
        .allowed,
    ).toBe(false);
  });

  it("refuses a FeatureFlag over the CRD's 64 rules before compiling any of them", () => {
    const rules = Array.from({ length: 65 }, (_, i) => ({
      name: `r${i}`,
      when: "(",
      serve: { enabled: true },
    }));
    const answer = validationReview(review(flag(rules)));
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status).toEqual({
      code: 422,
      message: "FeatureFlag f is invalid: spec.rules: Too many: 65: must have at most 64 items",
    });
    // 64 rules are within the limit: compiled, and the bad ones named.
    expect(validationReview(review(flag(rules.slice(0, 64)))).response.status?.message).toContain(
      "spec.rules[63].when: invalid CEL",
    );
  });

  it("refuses an expression over 4,096 characters, counted as the API server counts them, before compiling it", () => {
    const longest = `country == "${"x".repeat(4096 - 13)}"`;
    expect(longest).toHaveLength(4096);
    const rule = (when: string) => [{ name: "r", when, serve: { enabled: true } }];
    expect(validationReview(review(flag(rule(longest)))).response.allowed).toBe(true);
    const tooLong = `${longest.slice(0, -1)}x"`;
    expect(validationReview(review(flag(rule(tooLong)))).response.status?.message).toBe(
      "FeatureFlag f is invalid: spec.rules[0].when: Too long: may not be more than 4096 characters",
    );
    // maxLength counts characters (code points): 4,000 emoji are 8,000 UTF-16 units but within it.
    const emoji = `country == "${"\u{1F600}".repeat(4000)}"`;
    expect(validationReview(review(flag(rule(emoji)))).response.allowed).toBe(true);
    // A Segment's when, and a spec.when or spec.rules the schema does not declare for the kind
    // (a request sent straight to the webhook was never pruned), are held to the same limits.
    for (const object of [
      { kind: "Segment", metadata: { name: "s" }, spec: { when: tooLong } },
      { kind: "FeatureFlag", metadata: { name: "s" }, spec: { when: `(${tooLong}` } },
      { kind: "Segment", metadata: { name: "s" }, spec: { rules: rule(`(${tooLong}`) } },
    ]) {
      expect(validationReview(review(object)).response.status?.message).toMatch(
        /is invalid: spec\.(when|rules\[0\]\.when): Too long: may not be more than 4096 characters$/,
      );
    }
  });

  it("throws (answered 400) on something that is not a v1 AdmissionReview", () => {
    expect(() =>
      validationReview({ kind: "AdmissionReview", apiVersion: "admission.k8s.io/v1beta1" }),
    ).toThrow(/unsupported/);
  });
});
