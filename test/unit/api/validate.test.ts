import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { validateFeatureFlag } from "../../../src/api/validate.js";
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
      expect(validateFeatureFlag(parse(readFileSync(new URL(file, dir), "utf8"))), file).toEqual([]);
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
