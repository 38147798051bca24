// The always-valid p-value and interval of src/experiment/sequential.ts against values computed
// independently by scripts/reference/sequential_vectors.py: the mSPRT mixture likelihood ratio of
// Johari, Pekelis and Walsh (2022) integrated numerically with SciPy (quad) and inverted with brentq,
// and, when the generator had it, the normal-mixture boundary of the confseq package (Howard et al.
// 2021, the authors' implementation). The closed forms here are checked, not re-derived.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  alwaysValidPValue,
  alwaysValidRadius,
  mixingConstant,
  sequentialTwoProportions,
} from "../../../src/experiment/sequential.js";

interface ReferenceCase {
  control: [number, number];
  treatment: [number, number];
  alpha: number;
  tunedForUsers: number;
  pValue: number;
  lower: number;
  upper: number;
  confseqBound?: number;
}
const vectors = JSON.parse(readFileSync(new URL("./sequential-reference.json", import.meta.url), "utf8")) as {
  confseq: boolean;
  cases: ReferenceCase[];
};

const close = (actual: number, expected: number, relative = 1e-7) =>
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(relative * Math.max(1e-12, Math.abs(expected)));

describe("always-valid inference: reference values", () => {
  it.each(vectors.cases)("matches the numerically integrated mSPRT: %o", (c) => {
    const r = sequentialTwoProportions(
      c.control[0],
      c.control[1],
      c.treatment[0],
      c.treatment[1],
      c.alpha,
      c.tunedForUsers,
    );
    close(r.pValue, c.pValue, 1e-6);
    close(r.lower, c.lower, 1e-6);
    close(r.upper, c.upper, 1e-6);
    // confseq's boundary on the standardized sum of t = n₁ + n₂ terms, scaled to the interval's standard error.
    const t = c.control[1] + c.treatment[1];
    if (c.confseqBound !== undefined)
      close((r.upper - r.lower) / 2, (r.standardError * c.confseqBound) / Math.sqrt(t), 1e-6);
  });

  it("has ten reference cases spanning alphas, unequal arms and both sides of the tuning point", () => {
    expect(vectors.cases).toHaveLength(10);
    // The committed vectors carry the second reference too.
    expect(vectors.confseq).toBe(true);
    expect(vectors.cases.every((c) => c.confseqBound !== undefined)).toBe(true);
    expect(new Set(vectors.cases.map((c) => c.alpha)).size).toBeGreaterThanOrEqual(3);
  });

  it("the p-value is the level at which the interval just touches 0", () => {
    for (const [z, r] of [
      [2.5, 0.7],
      [4, 10],
      [3.1, 1.3],
    ] as const) {
      const p = alwaysValidPValue(z, r);
      close(alwaysValidRadius(p, r), z, 1e-10);
    }
    // Waudby-Smith et al.'s tuning constant at alpha 0.05: -2 log 0.05 + log(1 - 2 log 0.05).
    close(mixingConstant(0.05), 7.93615, 1e-5);
  });
});
