// Disagreements between `flagwright validate` and the API server that test/faults/fuzz-validate
// found, pinned offline: the API server (strict field validation, as kubectl sends) refuses unknown
// fields at the top level and in metadata, and prunes null fields before validating them.
import { describe, expect, it } from "vitest";
import { API_VERSION, KIND } from "../../../src/api/index.js";
import { validateFeatureFlag } from "../../../src/api/validate.js";

const manifest = (
  extra: Record<string, unknown> = {},
  metadata: Record<string, unknown> = {},
  spec = {},
) => ({
  apiVersion: API_VERSION,
  kind: KIND,
  metadata: { name: "checkout", ...metadata },
  spec: { enabled: true, ...spec },
  ...extra,
});

describe("validate agrees with the API server on cases the fuzzer found", () => {
  it("refuses a non-string expires (the CRD uses a pattern: with format date-time the API server accepted arrays)", () => {
    expect(validateFeatureFlag(manifest({}, {}, { expires: [] }))).toMatchObject([{ field: "spec.expires" }]);
    expect(validateFeatureFlag(manifest({}, {}, { expires: "2027-01-31" }))).toMatchObject([
      { field: "spec.expires" },
    ]);
    expect(validateFeatureFlag(manifest({}, {}, { expires: "2027-01-31T00:00:00Z" }))).toEqual([]);
  });

  it("refuses an unknown top-level field", () => {
    expect(validateFeatureFlag(manifest({ unknownField: 1 }))).toEqual([
      { field: "unknownField", message: "unknown field" },
    ]);
  });

  it("refuses an unknown metadata field and accepts ObjectMeta's own", () => {
    expect(validateFeatureFlag(manifest({}, { unknownField: 1 }))).toEqual([
      { field: "metadata.unknownField", message: "unknown field" },
    ]);
    expect(
      validateFeatureFlag(manifest({}, { labels: { a: "b" }, annotations: {}, namespace: "shop" })),
    ).toEqual([]);
  });

  it("accepts null for optional fields (the API server prunes them) but not for required ones", () => {
    expect(
      validateFeatureFlag(manifest({}, {}, { staleAfter: null, rollout: { percent: 5, canary: null } })),
    ).toEqual([]);
    expect(validateFeatureFlag(manifest({}, {}, { enabled: null }))).toEqual([
      { field: "spec.enabled", message: "Required value" },
    ]);
    // Free-form values keep their nulls.
    expect(validateFeatureFlag(manifest({}, {}, { defaultValue: null }))).toEqual([]);
  });
});
