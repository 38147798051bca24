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

  it("throws (answered 400) on something that is not a v1 AdmissionReview", () => {
    expect(() =>
      validationReview({ kind: "AdmissionReview", apiVersion: "admission.k8s.io/v1beta1" }),
    ).toThrow(/unsupported/);
  });
});
