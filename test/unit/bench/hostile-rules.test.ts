// The hostile-rules benchmark's count of hostile answers sent while an ordinary request waited.
import { describe, expect, it } from "vitest";
import { countWithin } from "../../../bench/hostile-rules.bench.js";

describe("countWithin", () => {
  it("counts the instants inside each interval, ends included, none counted twice across intervals", () => {
    const intervals: [number, number][] = [
      [10, 20],
      [20.5, 21],
      [30, 40],
      [50, 60],
    ];
    expect(countWithin(intervals, [1, 10, 15, 20, 25, 30, 31, 39, 41, 70])).toEqual([3, 0, 3, 0]);
  });

  it("answers zero everywhere without instants", () => {
    expect(countWithin([[0, 1]], [])).toEqual([0]);
  });
});
