import { describe, expect, it } from "vitest";
import { analyzeExperiment, type VariantCounts } from "../../../src/experiment/analysis.js";
import { seededRandom } from "../../support/seeded-random.js";

const now = new Date("2026-11-25T12:00:00Z");
const settings = { conversionEvent: "purchase", minSamplePerVariant: 1000 };
// The fixed-horizon z-test, planned for a 20 % lift so the counts below reach the planned size.
const fixed = { ...settings, method: "fixed" as const, minDetectableEffect: 0.2 };
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

  it("fixed: declares a significant winner with lift, intervals and p-values at the planned size", () => {
    const r = analyzeExperiment(fixed, two([5000, 500], [5000, 600]), now);
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
    const r = analyzeExperiment(fixed, two([5000, 600], [5000, 500]), now);
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
    // 53/47 of 10,000 (chi-square 36); the always-valid test needs more evidence than a single-look one.
    const r = analyzeExperiment(settings, two([5300, 500], [4700, 700]), now);
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
    const r = analyzeExperiment({ ...fixed, control: "a", minDetectableEffect: 0.3 }, counts, now);
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

  it("fixed, read once: 1,000 simulated A/A experiments: false-positive rate within 3.5-6.5 % at alpha 0.05", () => {
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
      const r = analyzeExperiment(
        { ...fixed, minDetectableEffect: 0.5 },
        two([n, binomial()], [n, binomial()]),
        now,
      );
      if (r.verdict === "Significant") falsePositives++;
      if (r.verdict === "SampleRatioMismatch") mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(falsePositives / 1000).toBeGreaterThanOrEqual(0.035);
    expect(falsePositives / 1000).toBeLessThanOrEqual(0.065);
  });
});

describe("analyzeExperiment: methods (issue 21)", () => {
  it("sequential is the default and reports always-valid p-values and intervals beside the fixed-horizon ones", () => {
    const r = analyzeExperiment(
      { ...settings, minDetectableEffect: 0.2 },
      two([5000, 500], [5000, 600]),
      now,
    );
    expect(r.method).toBe("sequential");
    const t = r.variants[1];
    const av = t?.alwaysValid;
    expect(av).toBeDefined();
    // Always-valid values are wider / larger than the fixed-horizon ones at the same data.
    expect(av?.pValue).toBeGreaterThan(t?.pValue ?? 1);
    expect(av?.differenceInterval?.[0]).toBeLessThan(t?.differenceCi95?.[0] ?? 0);
    expect(av?.differenceInterval?.[1]).toBeGreaterThan(t?.differenceCi95?.[1] ?? 0);
    // The lift interval holds the observed lift; it is Fieller's, not the difference / control rate.
    expect(av?.liftInterval?.[0]).toBeLessThan(t?.lift ?? 0);
    expect(av?.liftInterval?.[1]).toBeGreaterThan(t?.lift ?? 0);
    expect(r.plan).toMatchObject({ baselineRate: 0.1, at: now.toISOString() });
    expect(r.plan?.tunedForUsers).toBe(2 * (r.plan?.perVariant ?? 0));
    expect(r).toMatchObject({ verdict: "Significant", winner: "treatment", startedAt: now.toISOString() });
  });

  it("sequential keeps the running minimum p-value and the running intersection of intervals", () => {
    const s = { ...settings, minDetectableEffect: 0.2 };
    const first = analyzeExperiment(s, two([3000, 300], [3000, 360]), now);
    const later = new Date(now.getTime() + 3_600_000);
    // The treatment's lead shrinks: the always-valid p-value may not rise, the interval may not widen.
    const second = analyzeExperiment(s, two([6000, 600], [6000, 610]), later, first);
    const a = first.variants[1]?.alwaysValid;
    const b = second.variants[1]?.alwaysValid;
    expect(b?.pValue).toBe(a?.pValue);
    expect(b?.differenceInterval?.[0]).toBeGreaterThanOrEqual(a?.differenceInterval?.[0] ?? 1);
    expect(b?.differenceInterval?.[1]).toBeLessThanOrEqual(a?.differenceInterval?.[1] ?? -1);
    expect(b?.liftInterval?.[0]).toBeGreaterThanOrEqual(a?.liftInterval?.[0] ?? 1);
    expect(b?.liftInterval?.[1]).toBeLessThanOrEqual(a?.liftInterval?.[1] ?? -1);
    expect(second.startedAt).toBe(now.toISOString());
    expect(second.runningSeconds).toBe(3600);
    expect(second.plan).toEqual(first.plan);
    // A change of method starts afresh.
    const fixedNow = analyzeExperiment(
      { ...s, method: "fixed" },
      two([6000, 600], [6000, 610]),
      later,
      first,
    );
    expect(fixedNow.startedAt).toBe(later.toISOString());
  });

  it("fixed withholds the verdict until the planned sample size, not just the minimum sample", () => {
    const s = { ...settings, method: "fixed" as const, minDetectableEffect: 0.05 };
    const r = analyzeExperiment(s, two([5000, 500], [5000, 600]), now);
    // p < 0.01 here, but 5 % at a 10 % baseline needs 57,763 per variant.
    expect(r.variants[1]?.pValue).toBeLessThan(0.01);
    expect(r.verdict).toBe("Collecting");
    expect(r.variants[1]?.significant).toBe(false);
    expect(r.message).toContain("planned 57763");
    expect(r.plan?.perVariant).toBe(57763);
  });

  it("fixed freezes its verdict once read at the planned size", () => {
    const s = { ...settings, method: "fixed" as const, minDetectableEffect: 0.2 };
    const at = analyzeExperiment(s, two([5000, 500], [5000, 510]), now);
    expect(at.verdict).toBe("NotSignificant");
    const later = analyzeExperiment(s, two([9000, 900], [9000, 1100]), new Date(now.getTime() + 60_000), at);
    expect(later.variants[1]?.pValue).toBeLessThan(0.001);
    expect(later.verdict).toBe("NotSignificant");
    expect(later.message).toContain("frozen");
  });
});
