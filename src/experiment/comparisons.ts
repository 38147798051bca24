// The per-variant comparisons of an experiment analysis: the fixed-horizon z-tests, the always-valid
// comparisons carried across analyses, and the VariantResult rows built from both.
import type {
  AlwaysValidResult,
  ExperimentMethod,
  ExperimentResult,
  VariantCounts,
  VariantResult,
} from "./result.js";
import { alwaysValidLiftInterval, sequentialTwoProportions } from "./sequential.js";
import { holmAdjust, type TwoProportionTest, twoProportionZTest, wilsonInterval } from "./stats.js";

// Math.round rather than toFixed: the simulations call this a few million times, and toFixed is slow.
export const round = (x: number, digits = 6) => {
  if (!Number.isFinite(x)) return x;
  const scale = 10 ** digits;
  return Math.round(x * scale) / scale;
};
export const interval = (lo: number, hi: number): [number, number] => [round(lo), round(hi)];

/** The running intersection of an interval with the one carried from the previous analysis. */
function intersect(current: [number, number], before: [number, number] | undefined): [number, number] {
  if (before === undefined) return current;
  const lower = Math.max(current[0], before[0]);
  const upper = Math.min(current[1], before[1]);
  // An empty intersection means the asymptotics failed somewhere; keep the current interval.
  return lower > upper ? current : [lower, upper];
}

/** Conversions and exposures as compared: conversions capped at exposures. */
export interface Counted {
  conversions: number;
  exposures: number;
}

/** What every comparison of one analysis shares. */
export interface ComparisonInputs {
  alpha: number;
  method: ExperimentMethod;
  controlName: string;
  /** The control's counts, capped. */
  control: Counted;
  controlRate: number;
  /** Active variants other than the control, in order, and their capped counts. */
  treatments: readonly VariantCounts[];
  treatmentCounts: readonly Counted[];
  /** Number of treatments compared with the control (at least 1), the Bonferroni divisor. */
  comparisons: number;
}

/** The classical two-proportion z-test of each treatment against control, and the Holm-adjusted p-values. */
export function fixedHorizonTests(c: ComparisonInputs) {
  const cc = c.control;
  const tests = c.treatmentCounts.map((tc) =>
    tc.exposures > 0 && cc.exposures > 0
      ? twoProportionZTest(cc.conversions, cc.exposures, tc.conversions, tc.exposures)
      : undefined,
  );
  return { tests, adjusted: holmAdjust(tests.map((t) => t?.pValue ?? 1)) };
}

export interface AlwaysValidComparison {
  pValue: number;
  difference?: [number, number];
  lift?: [number, number] | undefined;
}

/** Always-valid comparisons, carried forward from the previous analysis once the plan is frozen. */
export function alwaysValidComparisons(
  c: ComparisonInputs,
  tunedForUsers: number,
  prior: ExperimentResult | undefined,
) {
  const cc = c.control;
  const level = c.alpha / c.comparisons;
  const sequential = c.treatments.map((t, i): AlwaysValidComparison => {
    const tc = c.treatmentCounts[i] as Counted;
    const current = sequentialTwoProportions(
      cc.conversions,
      cc.exposures,
      tc.conversions,
      tc.exposures,
      level,
      tunedForUsers,
    );
    // Rounded as stored, so an unchanged analysis reproduces the stored values exactly.
    let pValue = round(current.pValue, 8);
    const before =
      prior?.plan !== undefined ? prior.variants.find((v) => v.name === t.name)?.alwaysValid : undefined;
    if (before !== undefined) pValue = Math.min(pValue, before.pValue);
    if (!current.intervalReadable) return { pValue };
    const lift = alwaysValidLiftInterval(
      cc.conversions,
      cc.exposures,
      tc.conversions,
      tc.exposures,
      level,
      tunedForUsers,
    );
    return {
      pValue,
      difference: intersect([round(current.lower), round(current.upper)], before?.differenceInterval),
      lift: lift === undefined ? undefined : intersect(interval(lift[0], lift[1]), before?.liftInterval),
    };
  });
  return { sequential, adjustedSequential: holmAdjust(sequential.map((s) => s.pValue)) };
}

/** One row per variant: its rate, and for a treatment its comparisons with control. */
export function variantResults(
  c: ComparisonInputs,
  counts: readonly VariantCounts[],
  fixed: { tests: (TwoProportionTest | undefined)[]; adjusted: number[] },
  alwaysValid: { sequential: AlwaysValidComparison[]; adjustedSequential: number[] },
  verdictOpen: { planned: boolean; ready: boolean },
): VariantResult[] {
  const variants = counts.map((v): VariantResult => {
    const base = rateRow(v);
    if (v.name === c.controlName) return { ...base, control: true };
    const i = c.treatments.indexOf(v);
    const test = i >= 0 ? fixed.tests[i] : undefined;
    if (test === undefined) return base;
    const adj = fixed.adjusted[i] as number;
    const seq = alwaysValid.sequential[i] as AlwaysValidComparison;
    const seqAdj = alwaysValid.adjustedSequential[i] as number;
    const valid: AlwaysValidResult = { pValue: round(seq.pValue, 8), adjustedPValue: round(seqAdj, 8) };
    if (seq.difference !== undefined) valid.differenceInterval = seq.difference;
    if (seq.lift !== undefined) valid.liftInterval = seq.lift;
    return {
      ...base,
      lift: round(c.controlRate > 0 ? test.difference / c.controlRate : Number.NaN),
      differenceCi95: interval(test.differenceInterval.lower, test.differenceInterval.upper),
      pValue: round(test.pValue, 8),
      adjustedPValue: round(adj, 8),
      ...(verdictOpen.planned ? { alwaysValid: valid } : {}),
      significant: verdictOpen.ready && (c.method === "fixed" ? adj < c.alpha : seqAdj < c.alpha),
    };
  });
  // JSON has no NaN: an undefined lift (control rate 0) is left out.
  for (const v of variants) if (v.lift !== undefined && !Number.isFinite(v.lift)) delete v.lift;
  return variants;
}

function rateRow(c: VariantCounts): VariantResult {
  const { conversions, exposures } = c.conversions > c.exposures ? { ...c, conversions: c.exposures } : c;
  const ci = wilsonInterval(conversions, exposures);
  return {
    name: c.name,
    weight: c.weight,
    exposures: c.exposures,
    conversions: c.conversions,
    rate: round(exposures > 0 ? conversions / exposures : 0),
    rateCi95: interval(ci.lower, ci.upper),
  };
}
