// Every expected number here is published by the source named beside it; none was produced by
// this code. Tolerances follow the precision the source prints.
import { describe, expect, it } from "vitest";
import {
  chiSquareGoodnessOfFit,
  chiSquareSf,
  holmAdjust,
  normalCdf,
  normalQuantile,
  sampleSizePerGroup,
  twoProportionZTest,
  wilsonInterval,
} from "../../../src/experiment/stats.js";

describe("normal distribution", () => {
  it("matches tabulated values (Abramowitz & Stegun, Table 26.1)", () => {
    expect(normalCdf(0)).toBe(0.5);
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021048517795, 12);
    expect(normalCdf(-3)).toBeCloseTo(0.0013498980316301, 14);
    expect(normalCdf(1)).toBeCloseTo(0.8413447460685429, 12);
  });
  it("inverts: the critical values 1.959964 (95 %) and 0.841621 (80 % power)", () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 9);
    expect(normalQuantile(0.8)).toBeCloseTo(0.8416212335729143, 9);
    expect(normalQuantile(0.0005)).toBeCloseTo(-3.290526731491926, 8);
    for (const p of [1e-9, 0.01, 0.3, 0.7, 0.99]) expect(normalCdf(normalQuantile(p))).toBeCloseTo(p, 12);
  });
});

describe("chi-square upper tail", () => {
  // NIST/SEMATECH e-Handbook of Statistical Methods, §1.3.6.7.4 "Critical Values of the
  // Chi-Square Distribution": upper-tail critical values.
  it.each([
    [1, 0.05, 3.841],
    [1, 0.01, 6.635],
    [1, 0.001, 10.828],
    [2, 0.001, 13.816],
    [3, 0.05, 7.815],
    [10, 0.05, 18.307],
  ])("df %i: P(X > critical) = %f at the NIST critical value %f", (df, alpha, critical) => {
    expect(chiSquareSf(critical, df)).toBeCloseTo(alpha, 4);
  });
  it("R's prop.test documentation example (smokers, 4 groups): X-squared = 12.6, df = 3, p = 0.005585", () => {
    expect(chiSquareSf(12.6, 3)).toBeCloseTo(0.005585, 5);
  });
});

describe("Wilson score interval", () => {
  // Newcombe, R. G. (1998). Two-sided confidence intervals for the single proportion: comparison
  // of seven methods. Statistics in Medicine 17, 857-872, Table II, method 3 (score, no continuity
  // correction), four decimals.
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ])("%i/%i -> [%f, %f]", (x, n, lower, upper) => {
    const ci = wilsonInterval(x, n);
    expect(ci.lower).toBeCloseTo(lower, 4);
    expect(ci.upper).toBeCloseTo(upper, 4);
  });
  it("stays inside [0, 1] and treats no trials as no information", () => {
    expect(wilsonInterval(20, 20).upper).toBe(1);
    expect(wilsonInterval(0, 0)).toEqual({ lower: 0, upper: 1 });
  });
});

describe("two-proportion z-test (pooled, two-sided, no continuity correction)", () => {
  it("SJSU StatPrimer (Gerstman), key 9B.16, drug testing: 5/95 vs 12/62 -> z = 2.78, P = 0.0054", () => {
    const t = twoProportionZTest(5, 95, 12, 62);
    expect(t.z).toBeCloseTo(2.78, 2);
    expect(t.pValue).toBeCloseTo(0.0054, 3);
  });
  it("SJSU StatPrimer (Gerstman), key 9B.14, UGDP: 26/204 vs 2/64 -> P = 0.028 (not continuity-corrected)", () => {
    expect(twoProportionZTest(2, 64, 26, 204).pValue).toBeCloseTo(0.028, 3);
  });
  it("SJSU StatPrimer (Gerstman), key 9B.12, 4S trial: 182/2221 vs 256/2223 -> P = 2.0E-4", () => {
    expect(twoProportionZTest(182, 2221, 256, 2223).pValue).toBeCloseTo(2.0e-4, 5);
  });
  it("UsableStats (Sauro), askstats 866: 118/3303 vs 80/3303 -> z = 2.742, two-sided p = 0.00611", () => {
    const t = twoProportionZTest(80, 3303, 118, 3303);
    expect(t.z).toBeCloseTo(2.742, 3);
    expect(t.pValue).toBeCloseTo(0.00611, 5);
  });
  it("is symmetric in the groups and gives p = 1 with no variation", () => {
    expect(twoProportionZTest(12, 62, 5, 95).pValue).toBeCloseTo(
      twoProportionZTest(5, 95, 12, 62).pValue,
      14,
    );
    expect(twoProportionZTest(0, 100, 0, 100).pValue).toBe(1);
  });
  it("difference interval: Newcombe (1998), Statistics in Medicine 17, 873-890, example (a) 56/70 - 48/80, Wald: 0.0575 to 0.3425", () => {
    const t = twoProportionZTest(48, 80, 56, 70);
    expect(t.difference).toBeCloseTo(0.2, 12);
    expect(t.differenceInterval.lower).toBeCloseTo(0.0575, 4);
    expect(t.differenceInterval.upper).toBeCloseTo(0.3425, 4);
  });
});

describe("Holm correction", () => {
  it("Holm-Bonferroni worked example (Wikipedia, 'Holm-Bonferroni method'): p = .01 .04 .03 .005", () => {
    // At alpha 0.05: H4 (0.005 < 0.05/4) and H1 (0.01 < 0.05/3) are rejected, H3 (0.03 > 0.05/2) is
    // not and the procedure stops. Adjusted (as R's p.adjust(method = "holm")): .03 .06 .06 .02.
    const adjusted = holmAdjust([0.01, 0.04, 0.03, 0.005]);
    expect(adjusted.map((p) => Number(p.toFixed(10)))).toEqual([0.03, 0.06, 0.06, 0.02]);
    expect(adjusted.map((p) => p < 0.05)).toEqual([true, false, false, true]);
  });
  it("leaves a single p-value alone and caps at 1", () => {
    expect(holmAdjust([0.2])).toEqual([0.2]);
    expect(holmAdjust([0.6, 0.7])).toEqual([1, 1]);
  });
});

describe("sample ratio mismatch (chi-square goodness of fit)", () => {
  // For a 50/50 split X² = (a − b)² / (a + b); NIST's df-1 critical value at 0.001 is 10.828.
  it("5,165 vs 4,835 on 50/50 (X² = 10.89 > 10.828): p < 0.001", () => {
    const g = chiSquareGoodnessOfFit([5165, 4835], [50, 50]);
    expect(g.chiSquare).toBeCloseTo(10.89, 10);
    expect(g.pValue).toBeLessThan(0.001);
  });
  it("5,164 vs 4,836 on 50/50 (X² = 10.758 < 10.828): p > 0.001", () => {
    const g = chiSquareGoodnessOfFit([5164, 4836], [50, 50]);
    expect(g.chiSquare).toBeCloseTo(10.7584, 10);
    expect(g.pValue).toBeGreaterThan(0.001);
  });
  it("uneven weights and three variants: 20/30/50 with exact expected counts has X² = 0", () => {
    expect(chiSquareGoodnessOfFit([200, 300, 500], [20, 30, 50])).toMatchObject({ chiSquare: 0, pValue: 1 });
    expect(chiSquareGoodnessOfFit([200, 300, 500], [20, 30, 50]).degreesOfFreedom).toBe(2);
  });
  it("exposures to a zero-weight variant are a mismatch", () => {
    expect(chiSquareGoodnessOfFit([10, 10, 1], [50, 50, 0]).pValue).toBe(0);
  });
});

describe("sample size per variant", () => {
  it("R's power.prop.test documentation: p1 = .50, p2 = .75, power = .90 -> n = 76.7", () => {
    expect(sampleSizePerGroup(0.5, 0.75, 0.05, 0.9)).toBeCloseTo(76.7, 1);
  });
  it("R's power.prop.test documentation, 80 % power: (p1, p2) = (0.9, 1) needs at least n = 74", () => {
    const n = sampleSizePerGroup(0.9, 1, 0.05, 0.8);
    expect(Math.ceil(n)).toBe(74);
    expect(sampleSizePerGroup(0.9, 1)).toBe(n); // 80 % power and alpha 0.05 are the defaults
  });
  it("80 % power needs fewer, a smaller effect far more", () => {
    const n80 = sampleSizePerGroup(0.5, 0.75);
    expect(n80).toBeLessThan(76.7);
    expect(sampleSizePerGroup(0.1, 0.105)).toBeGreaterThan(50_000);
  });
});
