// The report's statistics: what "median (min–max, n)" and "p50 / p99 / max" mean in
// docs/benchmarks.md rests on these.
import { describe, expect, it } from "vitest";
import {
  formatPercentiles,
  formatSpread,
  formatVerdict,
  pairedRatios,
  quantile,
  ratioSpread,
  summarize,
  verdict,
} from "../../../bench/stats.js";

describe("bench statistics", () => {
  it("summarize: median, quartiles and range over unsorted samples", () => {
    expect(summarize([5, 1, 4, 2, 3])).toMatchObject({
      n: 5,
      median: 3,
      min: 1,
      max: 5,
      p25: 2,
      p75: 4,
      mean: 3,
    });
    // An even count takes the midpoint of the two middle samples.
    expect(summarize([10, 40, 20, 30]).median).toBe(25);
  });

  it("quantile interpolates linearly between ranks (p99 of 30 samples lies between the two largest)", () => {
    const thirty = Array.from({ length: 30 }, (_, i) => i + 1);
    expect(quantile(thirty, 0.99)).toBeCloseTo(29.71, 10);
    expect(quantile([7], 0.99)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it("formats figures as the report prints them", () => {
    expect(formatSpread([1_200_000, 1_000_000, 1_100_000])).toBe("1,100,000 (1,000,000–1,200,000, n=3)");
    expect(formatSpread([42.123])).toBe("42.1");
    expect(formatPercentiles([1, 2, 3, 4, 100])).toBe("p50 3, p99 96.2, max 100 (n=5)");
  });

  it("pairedRatios divides round by round and ignores unpaired rounds", () => {
    expect(pairedRatios([10, 20, 30], [5, 10])).toEqual([2, 2]);
  });

  it("a ratio whose rounds spread wider than 2× is unsettled, not met, whatever its median", () => {
    // The p99 ratio of a loaded run: median 0.53 meets "≤ 1", but the rounds range 0.13 – 3.72.
    const loaded = [0.13, 0.41, 0.53, 0.88, 3.72];
    expect(ratioSpread(loaded)).toBeCloseTo(28.6, 1);
    expect(verdict(loaded, { atMost: 1 })).toBe("unsettled");
    expect(formatVerdict(loaded, { atMost: 1 })).toBe(
      "target ≤ 1: unsettled (rounds spread 28.6×, wider than 2×)",
    );
  });

  it("a settled ratio is met or missed by its median", () => {
    expect(verdict([0.7, 0.8, 0.9], { atMost: 1 })).toBe("met");
    expect(verdict([0.9, 1.1, 1.2], { atMost: 1 })).toBe("missed");
    expect(verdict([1.4, 1.6, 1.7], { atLeast: 1.5 })).toBe("met");
    expect(formatVerdict([1.2, 1.23, 1.42], { atLeast: 1.5 })).toBe(
      "target ≥ 1.5: missed (rounds within 1.18×)",
    );
    // Exactly 2× still counts as settled; a ratio of zero cannot be spread over.
    expect(verdict([0.5, 1], { atMost: 1 })).toBe("met");
    expect(verdict([0, 1], { atMost: 1 })).toBe("unsettled");
  });
});
