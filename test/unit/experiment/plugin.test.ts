// `kubectl flagwright experiment` / `--ship` / `stale` output, from flag objects (no cluster).
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { FeatureFlag } from "../../../src/api/index.js";
import { validateFeatureFlag } from "../../../src/api/validate.js";
import { experimentReport, shipManifest, staleTable } from "../../../src/cli/kubectl-plugin/experiments.js";
import { analyzeExperiment } from "../../../src/experiment/analysis.js";

const now = new Date("2026-11-25T12:00:00Z");

function experimentFlag(control: [number, number], treatment: [number, number]): FeatureFlag {
  const spec: FeatureFlag["spec"] = {
    enabled: true,
    owner: "team-checkout",
    rollout: { percent: 50, canary: { steps: [{ percent: 10, pause: "1h" }] } },
    variants: [
      { name: "old", weight: 50, value: { layout: "v1" } },
      { name: "new", weight: 50, value: { layout: "v2" } },
    ],
    experiment: { conversionEvent: "purchase", minSamplePerVariant: 100, minDetectableEffect: 0.2 },
  };
  const experiment = analyzeExperiment(
    { conversionEvent: "purchase", minSamplePerVariant: 100, minDetectableEffect: 0.2 },
    [
      { name: "old", weight: 50, exposures: control[0], conversions: control[1] },
      { name: "new", weight: 50, exposures: treatment[0], conversions: treatment[1] },
    ],
    now,
  );
  return {
    apiVersion: "flagwright.dev/v1alpha1",
    kind: "FeatureFlag",
    metadata: { name: "checkout", namespace: "shop" },
    spec,
    status: { experiment: experiment as unknown as Record<string, unknown> },
  };
}

describe("kubectl flagwright experiment", () => {
  it("prints the per-variant table and the verdict", () => {
    const text = experimentReport(experimentFlag([5000, 500], [5000, 600]));
    expect(text).toContain("old (control)");
    expect(text).toMatch(/new\s+50%\s+5000\s+600\s+12\.00%/);
    expect(text).toContain("+20.0%");
    expect(text).toContain("Verdict: Significant (winner: new)");
    expect(text).toContain("Method: sequential (always-valid");
    expect(text).toContain("LIFT (ALWAYS-VALID CI)");
    expect(text).toContain("running 0s since 2026-11-25T12:00:00.000Z");
    expect(text).toMatch(
      /Plan \(frozen 2026-11-25T12:00:00\.000Z, control rate 10\.00%\): \d+ per variant; always-valid intervals narrowest at \d+ users/,
    );
  });

  it("--ship prints a valid manifest with the winner at 100 % and no experiment", () => {
    const manifest = parse(shipManifest(experimentFlag([5000, 500], [5000, 600])));
    expect(manifest.spec.rollout).toEqual({ percent: 100 });
    expect(manifest.spec.experiment).toBeUndefined();
    expect(manifest.spec.variants).toEqual([
      { name: "old", weight: 0, value: { layout: "v1" } },
      { name: "new", weight: 100, value: { layout: "v2" } },
    ]);
    expect(validateFeatureFlag(manifest)).toEqual([]);
  });

  it("--ship refuses without a significant winner", () => {
    expect(() => shipManifest(experimentFlag([5000, 500], [5000, 505]))).toThrow(/NotSignificant/);
  });
});

describe("kubectl flagwright stale", () => {
  it("lists stale flags with owner, reason and age", () => {
    const base = experimentFlag([1, 0], [1, 0]);
    const stale: FeatureFlag = {
      ...base,
      metadata: { name: "old-banner", namespace: "web" },
      spec: { enabled: true, owner: "team-web" },
      status: { phase: "Completed", currentPercent: 100, effectiveSince: "2026-07-01T00:00:00Z" },
    };
    const text = staleTable([base, stale], now) ?? "";
    expect(text).toMatch(/^NAMESPACE\s+KEY\s+OWNER\s+REASON\s+AGE/);
    expect(text).toMatch(/web\s+old-banner\s+team-web\s+FullyOn\s+147d/);
    expect(text).not.toContain("checkout");
    expect(staleTable([base], now)).toBeUndefined();
  });
});
