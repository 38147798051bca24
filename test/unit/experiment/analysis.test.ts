import { describe, expect, it } from "vitest";
import { analyzeExperiment, type VariantCounts } from "../../../src/experiment/analysis.js";
import { seededRandom } from "../../support/seeded-random.js";

const now = new Date("2026-11-25T12:00:00Z");
const settings = { conversionEvent: "purchase", minSamplePerVariant: 1000 };
const two = (a: [number, number], b: [number, number]): VariantCounts[] => [
  { name: "control", weight: 50, exposures: a[0], conversions: a[1] },
  { name: "treatment", weight: 50, exposures: b[0], conversions: b[1] },
];

describe("analyzeExperiment", () => {
  it("collects until every variant has the minimum sample, however large the difference", () => {
    const r = analyzeExperiment(settings, two([999, 10], [999, 500]), now);
    expect(r.verdict).toBe("Collecting");
    expect(r.variants[1]?.significant).toBe(false);
    expect(r.variants[1]?.pValue).toBeLessThan(1e-10);
    expect(r.message).toContain("999 of 1000");
  });

  it("declares a significant winner with lift, intervals and p-values", () => {
    const r = analyzeExperiment(settings, two([5000, 500], [5000, 600]), now);
    expect(r.verdict).toBe("Significant");
    expect(r.winner).toBe("treatment");
    const [c, t] = r.variants;
    expect(c).toMatchObject({ name: "control", control: true, rate: 0.1 });
    expect(c?.rateCi95[0]).toBeLessThan(0.1);
    expect(c?.rateCi95[1]).toBeGreaterThan(0.1);
    expect(t?.lift).toBeCloseTo(0.2, 6);
    expect(t?.pValue).toBeLessThan(0.01);
    expect(t?.adjustedPValue).toBe(t?.pValue);
    expect(t?.differenceCi95?.[0]).toBeGreaterThan(0);
    expect(r.sampleRatio.mismatch).toBe(false);
  });

  it("names the control the winner when the treatment is significantly worse", () => {
    const r = analyzeExperiment(settings, two([5000, 600], [5000, 500]), now);
    expect(r).toMatchObject({ verdict: "Significant", winner: "control" });
  });

  it("reports NotSignificant and the sample still needed for the minimum detectable effect", () => {
    const r = analyzeExperiment(
      { ...settings, minDetectableEffect: 0.1 },
      two([2000, 200], [2000, 205]),
      now,
    );
    expect(r.verdict).toBe("NotSignificant");
    expect(r.winner).toBeUndefined();
    // n for 0.10 -> 0.11 at alpha 0.05, 80 % power (Fleiss formula, as R's power.prop.test): 14,751.
    expect(r.sampleSize.requiredPerVariant).toBe(14751);
    expect(r.sampleSize.remaining).toBe(14751 - 2000);
  });

  it("flags a sample ratio mismatch first, at p < 0.001, even with a significant difference", () => {
    const r = analyzeExperiment(settings, two([5165, 500], [4835, 700]), now);
    expect(r.verdict).toBe("SampleRatioMismatch");
    expect(r.winner).toBeUndefined();
    expect(r.sampleRatio.pValue).toBeLessThan(0.001);
    expect(r.message).toContain("untrustworthy");
    const ok = analyzeExperiment(settings, two([5164, 500], [4836, 500]), now);
    expect(ok.sampleRatio.mismatch).toBe(false);
    expect(ok.verdict).not.toBe("SampleRatioMismatch");
  });

  it("Holm-corrects several treatments against the configured control", () => {
    const counts: VariantCounts[] = [
      { name: "a", weight: 34, exposures: 3400, conversions: 340 },
      { name: "b", weight: 33, exposures: 3300, conversions: 400 },
      { name: "c", weight: 33, exposures: 3300, conversions: 330 },
    ];
    const r = analyzeExperiment({ ...settings, control: "a" }, counts, now);
    const b = r.variants.find((v) => v.name === "b");
    const c = r.variants.find((v) => v.name === "c");
    expect(b?.pValue).toBeLessThan(0.05);
    // Smallest of two p-values is doubled by Holm.
    expect(b?.adjustedPValue).toBeCloseTo(Math.min(1, 2 * (b?.pValue ?? 0)), 6);
    expect(c?.adjustedPValue).toBeGreaterThanOrEqual(b?.adjustedPValue ?? 0);
    expect(r).toMatchObject({ verdict: "Significant", winner: "b", control: "a" });
  });

  it("caps rates and warns when conversions exceed exposures", () => {
    const r = analyzeExperiment({ ...settings, minSamplePerVariant: 1 }, two([10, 12], [10, 5]), now);
    expect(r.variants[0]?.rate).toBe(1);
    expect(r.warnings?.[0]).toContain("exceed");
  });

  it("1,000 simulated A/A experiments: false-positive rate within 3.5-6.5 % at alpha 0.05", () => {
    const random = seededRandom(20261125);
    const n = 2000;
    const rate = 0.1;
    const binomial = () => {
      let k = 0;
      for (let i = 0; i < n; i++) if (random() < rate) k++;
      return k;
    };
    let falsePositives = 0;
    let mismatches = 0;
    for (let i = 0; i < 1000; i++) {
      const r = analyzeExperiment(settings, two([n, binomial()], [n, binomial()]), now);
      if (r.verdict === "Significant") falsePositives++;
      if (r.verdict === "SampleRatioMismatch") mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(falsePositives / 1000).toBeGreaterThanOrEqual(0.035);
    expect(falsePositives / 1000).toBeLessThanOrEqual(0.065);
  });
});
