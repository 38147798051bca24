// The always-valid statistics with thin arms: one arm without conversions, a handful of users in
// an unequal split, a control rate near 0. Each case is one the plug-in variance or a single-look
// sample-ratio test got wrong.
import { describe, expect, it } from "vitest";
import { analyzeExperiment, type VariantCounts } from "../../../src/experiment/analysis.js";
import {
  alwaysValidLiftInterval,
  alwaysValidRadius,
  mixingConstant,
  sequentialSampleRatioPValue,
  sequentialTwoProportions,
} from "../../../src/experiment/sequential.js";
import { chiSquareGoodnessOfFit, lnGamma, twoProportionZTest } from "../../../src/experiment/stats.js";

const now = new Date("2026-12-07T12:00:00Z");
const split = (control: [number, number, number], treatment: [number, number, number]): VariantCounts[] => [
  { name: "control", weight: control[0], exposures: control[1], conversions: control[2] },
  { name: "treatment", weight: treatment[0], exposures: treatment[1], conversions: treatment[2] },
];

describe("always-valid test of two proportions: variance that cannot collapse", () => {
  it("control 14/14,517 against treatment 0/1,624 is no evidence (the plug-in variance said p = 0.048)", () => {
    // Tuned where the plug-in variance gave 0.048: the treatment's empty arm had no variance at all.
    const r = sequentialTwoProportions(14, 14_517, 0, 1_624, 0.05, 135_000);
    const fixedHorizon = twoProportionZTest(14, 14_517, 0, 1_624);
    expect(fixedHorizon.pValue).toBeGreaterThan(0.2);
    // An always-valid p-value is never below the single-look one on the same statistic.
    expect(r.pValue).toBeGreaterThanOrEqual(fixedHorizon.pValue);
    expect(r.z).toBeCloseTo(fixedHorizon.z, 12);
    // Too few conversions in the treatment to read an interval.
    expect(r.intervalReadable).toBe(false);
  });

  it("hides the always-valid intervals until both arms have 5 conversions and 5 non-conversions", () => {
    const s = { conversionEvent: "buy", minSamplePerVariant: 100, minDetectableEffect: 0.5 };
    const thin = analyzeExperiment(s, split([90, 9000, 20], [10, 1000, 4]), now);
    expect(thin.variants[1]?.alwaysValid?.pValue).toBeGreaterThan(0);
    expect(thin.variants[1]?.alwaysValid?.differenceInterval).toBeUndefined();
    expect(thin.variants[1]?.alwaysValid?.liftInterval).toBeUndefined();
    const enough = analyzeExperiment(s, split([90, 9000, 20], [10, 1000, 5]), now);
    expect(enough.variants[1]?.alwaysValid?.differenceInterval).toBeDefined();
  });

  it("reports nothing always-valid before the plan is frozen (the tuning still moves)", () => {
    const s = { conversionEvent: "buy", minSamplePerVariant: 1000 };
    const r = analyzeExperiment(s, split([90, 900, 100], [10, 100, 40]), now);
    expect(r.verdict).toBe("Collecting");
    expect(r.plan).toBeUndefined();
    expect(r.variants[1]?.alwaysValid).toBeUndefined();
  });
});

describe("lift interval: Fieller's theorem with the always-valid radius", () => {
  /** The reference: invert the always-valid test of p₂ − R·p₁ = 0 numerically, by bisection. */
  function invertedByBisection(c1: number, n1: number, c2: number, n2: number, k: number): [number, number] {
    const p1 = (c1 + 1) / (n1 + 2);
    const p2 = (c2 + 1) / (n2 + 2);
    const v1 = (p1 * (1 - p1)) / (n1 + 2);
    const v2 = (p2 * (1 - p2)) / (n2 + 2);
    const inside = (ratio: number) => Math.abs(p2 - ratio * p1) / Math.sqrt(v2 + ratio * ratio * v1) <= k;
    const edge = (from: number, to: number) => {
      let [a, b] = [from, to]; // inside(a), !inside(b)
      for (let i = 0; i < 200; i++) {
        const m = (a + b) / 2;
        if (inside(m)) a = m;
        else b = m;
      }
      return a;
    };
    const centre = p2 / p1;
    return [edge(centre, 0) - 1, edge(centre, 1000) - 1];
  }

  it.each([
    [500, 5000, 600, 5000, 0.05, 7682],
    [20, 1000, 40, 1000, 0.05, 20_000],
    [60, 9000, 12, 1000, 0.05, 100_000],
    [3000, 30_000, 3100, 30_000, 0.025, 100_000],
  ])(
    "matches the numerically inverted test: control %i/%i, treatment %i/%i",
    (c1, n1, c2, n2, alpha, tuned) => {
      const k = alwaysValidRadius(alpha, ((n1 + n2) * mixingConstant(alpha)) / tuned);
      const reference = invertedByBisection(c1, n1, c2, n2, k);
      const lift = alwaysValidLiftInterval(c1, n1, c2, n2, alpha, tuned);
      expect(lift?.[0]).toBeCloseTo(reference[0], 9);
      expect(lift?.[1]).toBeCloseTo(reference[1], 9);
    },
  );

  it("is wider than the difference interval divided by the observed control rate when the control is thin", () => {
    const r = analyzeExperiment(
      { conversionEvent: "buy", minSamplePerVariant: 100, minDetectableEffect: 0.5 },
      split([50, 1000, 20], [50, 1000, 40]),
      now,
    );
    const av = r.variants[1]?.alwaysValid;
    const naive = [(av?.differenceInterval?.[0] ?? 0) / 0.02, (av?.differenceInterval?.[1] ?? 0) / 0.02];
    // The control's own uncertainty stretches the upper end (a low control rate means a high lift).
    expect(av?.liftInterval?.[1]).toBeGreaterThan((naive[1] as number) * 1.2);
  });

  it("is omitted while the control rate cannot be told from 0", () => {
    expect(alwaysValidLiftInterval(1, 2000, 8, 2000, 0.05, 50_000)).toBeUndefined();
  });
});

describe("sample ratio: always-valid, with the minimum sample built in", () => {
  it("2 users in a 10/90 split, both in the 10 % arm, are no mismatch (the chi-square test said p = 2e-5)", () => {
    expect(chiSquareGoodnessOfFit([0, 2], [90, 10]).pValue).toBeLessThan(1e-4);
    const r = analyzeExperiment({ conversionEvent: "buy" }, split([90, 0, 0], [10, 2, 0]), now);
    expect(r.sampleRatio.mismatch).toBe(false);
    expect(r.verdict).toBe("Collecting");
  });

  it("matches the Dirichlet–multinomial Bayes factor computed term by term", () => {
    // 3 users all in the 10 % arm, prior 100 pseudo-users: BF = Π (10+i)/(100+i) / 0.1³.
    const bf = ((10 / 100) * (11 / 101) * (12 / 102)) / 0.1 ** 3;
    expect(sequentialSampleRatioPValue([0, 3], [90, 10])).toBeCloseTo(1 / bf, 12);
    // Large counts through lnGamma: 52,000 vs 48,000 in a 50/50 split.
    const logBf =
      lnGamma(50 + 52_000) -
      lnGamma(50) +
      lnGamma(50 + 48_000) -
      lnGamma(50) +
      lnGamma(100) -
      lnGamma(100_100) -
      100_000 * Math.log(0.5);
    expect(sequentialSampleRatioPValue([52_000, 48_000], [50, 50])).toBeCloseTo(Math.exp(-logBf), 15);
  });

  it("still catches real mismatches: a 52/48 split of 100,000, and any exposure of a weight-0 variant", () => {
    const r = analyzeExperiment(
      { conversionEvent: "buy" },
      split([50, 52_000, 5200], [50, 48_000, 4800]),
      now,
    );
    expect(r.verdict).toBe("SampleRatioMismatch");
    expect(r.sampleRatio.pValue).toBeLessThan(1e-20);
    expect(sequentialSampleRatioPValue([100, 0, 1], [50, 50, 0])).toBe(0);
  });

  it("keeps its running minimum across analyses while the weights stay, and starts afresh when they change", () => {
    const s = { conversionEvent: "buy", minSamplePerVariant: 100 };
    const first = analyzeExperiment(s, split([50, 5200, 500], [50, 4800, 480]), now);
    const later = new Date(now.getTime() + 60_000);
    const second = analyzeExperiment(s, split([50, 10_000, 1000], [50, 10_000, 1000]), later, first);
    expect(second.sampleRatio.pValue).toBe(first.sampleRatio.pValue);
    const reweighted = analyzeExperiment(s, split([60, 12_000, 1200], [40, 8_000, 800]), later, first);
    expect(reweighted.sampleRatio.pValue).toBeGreaterThan(first.sampleRatio.pValue);
  });
});
