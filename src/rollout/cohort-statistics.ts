// The cohort comparison's statistics: running tallies of flag-on and flag-off counts over time
// slices, the two always-valid tests on a tally (degradation found, degradation ruled out), and
// the decision with its message. Pure; cohort.ts adds the PromQL reads and the step's progress.
import type { FeatureFlagSpec } from "../api/index.js";
import { alwaysValidInterval, mixingConstant } from "../experiment/sequential.js";
import { normalQuantile } from "../experiment/stats.js";

type Analysis = NonNullable<NonNullable<NonNullable<FeatureFlagSpec["rollout"]>["canary"]>["analysis"]>;
export type CohortSpec = NonNullable<Analysis["cohort"]>;

export const COHORT_DEFAULTS = {
  flagLabel: "feature_flag_key",
  variantLabel: "feature_flag_result_variant",
  onVariants: ["on"],
  offVariants: ["off"],
  alpha: 0.05,
  minRequests: 200,
  /** Shortest window read, so a step that began a moment ago still covers a couple of scrapes. */
  minWindowSeconds: 30,
} as const;

export interface CohortCounts {
  on: { requests: number; errors: number };
  off: { requests: number; errors: number };
}

/**
 * A step's comparison so far, as running sums over its time slices (one slice per analysis: the
 * counts between two reads). Within a slice flag-on and flag-off users see the same incidents, so
 * the on-cohort is compared with the off-cohort's error rate at the on-cohort's own times: each
 * slice's off-rate weighted by the slice's on-requests. Sums instead of slices keep status small
 * however long the step runs. Persisted in status.cohortAnalysis so a new leader resumes from it.
 */
export interface CohortTally {
  /** Slices with requests in both cohorts (the only ones compared). */
  slices: number;
  onRequests: number;
  onErrors: number;
  offRequests: number;
  offErrors: number;
  /** Σ n₁·e₀/n₀: the errors flag-on users would have had at the off-cohort's rate of their slice. */
  expectedOnErrors: number;
  /** Variance of onErrors − expectedOnErrors if on and off fail alike in every slice (pooled per slice). */
  equalVariance: number;
  /** Variance of onErrors − (1 + limit)·expectedOnErrors if on fails exactly at the limit in every slice. */
  limitVariance: number;
  /** Σ n₁²/n₀, for the variance floor when a slice has no errors at all. */
  onSquaredOverOff: number;
  /** Mixing variance of the always-valid test, fixed at the step's first decisive look. */
  mixingVariance?: number;
}

export const EMPTY_TALLY: CohortTally = {
  slices: 0,
  onRequests: 0,
  onErrors: 0,
  offRequests: 0,
  offErrors: 0,
  expectedOnErrors: 0,
  equalVariance: 0,
  limitVariance: 0,
  onSquaredOverOff: 0,
};

const clampCounts = (c: CohortCounts) => {
  const n1 = Math.max(0, c.on.requests);
  const n0 = Math.max(0, c.off.requests);
  return {
    n1,
    n0,
    e1: Math.min(n1, Math.max(0, c.on.errors)),
    e0: Math.min(n0, Math.max(0, c.off.errors)),
  };
};

/**
 * Adds one time slice's counts to a tally. `limit` is maxRelativeDegradation: the variance under
 * "on fails exactly (1 + limit) times as often" is estimated per slice, as a score test does.
 */
export function addSlice(tally: CohortTally, slice: CohortCounts, limit: number): CohortTally {
  const { n1, n0, e1, e0 } = clampCounts(slice);
  // A slice without traffic in one cohort has nothing to compare with: left out of the test.
  if (!(n1 > 0) || !(n0 > 0)) return tally;
  const k = 1 + limit;
  const ratio = n1 / n0;
  // Null variances, not plug-in ones: a cohort that happens to have no errors yet cannot make
  // the comparison look certain.
  const pooled = (e1 + e0) / (n1 + n0);
  const offAtLimit = Math.min(1 / k, (e1 + e0) / (k * n1 + n0));
  const onAtLimit = k * offAtLimit;
  const next: CohortTally = {
    slices: tally.slices + 1,
    onRequests: tally.onRequests + n1,
    onErrors: tally.onErrors + e1,
    offRequests: tally.offRequests + n0,
    offErrors: tally.offErrors + e0,
    expectedOnErrors: tally.expectedOnErrors + (n1 * e0) / n0,
    equalVariance: tally.equalVariance + pooled * (1 - pooled) * n1 * (1 + ratio),
    limitVariance:
      tally.limitVariance +
      n1 * onAtLimit * (1 - onAtLimit) +
      k * k * n1 * ratio * offAtLimit * (1 - offAtLimit),
    onSquaredOverOff: tally.onSquaredOverOff + n1 * ratio,
  };
  if (tally.mixingVariance !== undefined) next.mixingVariance = tally.mixingVariance;
  return next;
}

/** Counts read all at once (one slice): what a single comparison without history sees. */
export function tallyOf(counts: CohortCounts, limit: number): CohortTally {
  return addSlice(EMPTY_TALLY, counts, limit);
}

/** The level each step's test runs at: alpha split over the steps that run the comparison (below 100 %). */
export function stepAlpha(spec: Pick<CohortSpec, "alpha">, comparedSteps: number): number {
  return (spec.alpha ?? COHORT_DEFAULTS.alpha) / Math.max(1, comparedSteps);
}

/**
 * The mixture is tuned to the information at which a fixed-horizon test would detect the limit
 * with 80 % power, at the off-cohort's error rate (half an error keeps it above 0).
 */
export function tunedMixingVariance(
  limit: number,
  alpha: number,
  offErrors: number,
  offRequests: number,
): number {
  const base = (offErrors + 0.5) / (offRequests + 1);
  const detectable = (limit * base) / (normalQuantile(1 - alpha / 2) + normalQuantile(0.8));
  return mixingConstant(alpha) * detectable * detectable;
}

export interface CohortTest {
  onRate: number;
  /** The off-cohort's error rate at the on-cohort's times (each slice weighted by its on-requests). */
  offRate: number;
  difference: [number, number];
  excess: [number, number];
  failed: boolean;
  passed: boolean;
}

/** The two always-valid tests on a tally (no messages: the simulations call this at every look). */
export function testTally(
  tally: CohortTally,
  limit: number,
  alpha: number,
  mixingVariance: number,
): CohortTest {
  const n1 = tally.onRequests;
  const k = 1 + limit;
  const onRate = tally.onErrors / n1;
  const offRate = tally.expectedOnErrors / n1;
  // With no error at all in a slice its null variance is 0; half an error over the whole step
  // bounds the variance from below, so zero errors never reads as certainty.
  const n0 = tally.offRequests;
  const errors = tally.onErrors + tally.offErrors + 0.5;
  const pooled = errors / (n1 + n0 + 1);
  const equalFloor = pooled * (1 - pooled) * (n1 + tally.onSquaredOverOff);
  const offAtLimit = Math.min(1 / k, errors / (k * n1 + n0 + 1));
  const limitFloor =
    n1 * k * offAtLimit * (1 - k * offAtLimit) +
    k * k * tally.onSquaredOverOff * offAtLimit * (1 - offAtLimit);
  const scale = 1 / (n1 * n1);
  const diff = alwaysValidInterval(
    onRate - offRate,
    Math.max(tally.equalVariance, equalFloor) * scale,
    alpha,
    mixingVariance,
  );
  const excess = alwaysValidInterval(
    onRate - k * offRate,
    Math.max(tally.limitVariance, limitFloor) * scale,
    alpha,
    mixingVariance,
  );
  return {
    onRate,
    offRate,
    difference: [diff.lower, diff.upper],
    excess: [excess.lower, excess.upper],
    failed: diff.lower > 0,
    passed: excess.upper < 0,
  };
}

export interface CohortComparison {
  /** Error rate of the on-cohort. */
  onRate: number;
  /** Error rate of the off-cohort at the on-cohort's times. */
  offRate: number;
  /** Always-valid interval of onRate − offRate. */
  difference: [number, number];
  /** Always-valid interval of onRate − (1 + limit)·offRate: below 0 rules the degradation out. */
  excess: [number, number];
  /** The level each step's test runs at (alpha split over the canary's compared steps). */
  alpha: number;
}

export interface CohortDecision {
  result: "Passed" | "Failed" | "Inconclusive";
  message: string;
  comparison?: CohortComparison;
  /** The tally with the mixing variance fixed once the step's first decisive look ran. */
  tally: CohortTally;
}

export const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const range = ([lo, hi]: [number, number]) => `[${(lo * 100).toFixed(3)}, ${(hi * 100).toFixed(3)}] pp`;
const int = (x: number) => String(Math.round(x));

/**
 * The decision for one analysis. `counts` is a step's tally (its slices so far), or plain counts
 * read at once (one slice). `comparedStepCount` is the number of steps that run the comparison:
 * each runs its own test at alpha/comparedStepCount (Bonferroni), so a healthy canary is rolled
 * back with probability at most alpha over the whole ramp.
 */
export function decideCohort(
  spec: CohortSpec,
  counts: CohortCounts | CohortTally,
  comparedStepCount: number,
): CohortDecision {
  const limit = spec.maxRelativeDegradation;
  const alpha = stepAlpha(spec, comparedStepCount);
  const minRequests = spec.minRequests ?? COHORT_DEFAULTS.minRequests;
  const tally = "on" in counts ? tallyOf(counts, limit) : counts;
  const n1 = tally.onRequests;
  const n0 = tally.offRequests;
  if (n1 < minRequests || n0 < minRequests) {
    return {
      result: "Inconclusive",
      message: `cohort comparison holding: traffic too thin (on ${int(n1)}, off ${int(n0)} requests in this step; need ${minRequests} each)`,
      tally,
    };
  }
  // Fixed once per step: re-tuning the mixture from the data at every look would void the guarantee.
  const mixingVariance =
    tally.mixingVariance ?? tunedMixingVariance(limit, alpha, tally.offErrors, tally.offRequests);
  const fixed = tally.mixingVariance === undefined ? { ...tally, mixingVariance } : tally;
  const t = testTally(fixed, limit, alpha, mixingVariance);
  const comparison: CohortComparison = {
    onRate: t.onRate,
    offRate: t.offRate,
    difference: t.difference,
    excess: t.excess,
    alpha,
  };
  const k = 1 + limit;
  const rawOff = tally.offErrors / n0;
  const rates = `on ${pct(t.onRate)} (${int(tally.onErrors)}/${int(n1)}) vs off ${pct(rawOff)} (${int(tally.offErrors)}/${int(n0)})`;
  if (t.failed) {
    return {
      result: "Failed",
      message: `cohort comparison: flag-on users fail more: ${rates}; always-valid ${Number(((1 - alpha) * 100).toFixed(2))}% interval of on − off ${range(comparison.difference)} excludes 0`,
      comparison,
      tally: fixed,
    };
  }
  if (t.passed) {
    return {
      result: "Passed",
      message: `cohort comparison: ${rates}; a degradation above ${limit * 100}% is ruled out (on − ${k}·off < 0, upper ${(t.excess[1] * 100).toFixed(2)} pp)`,
      comparison,
      tally: fixed,
    };
  }
  return {
    result: "Inconclusive",
    message: `cohort comparison holding: ${rates}; on − off ${range(comparison.difference)} cannot yet rule out a degradation above ${limit * 100}%`,
    comparison,
    tally: fixed,
  };
}
