// Guarded rollouts: compare the error rate of flag-on users with that of flag-off users at every
// analysis, with the always-valid (sequential) test of src/experiment/sequential.ts, so a canary
// rolls back at 1-5 % exposure as soon as the on-cohort is worse with confidence, and advances
// only once the comparison rules out a degradation larger than the configured limit.
//
// The application labels its own request and error counters with the variant it served, using
// OpenTelemetry's feature-flag attribute names as Prometheus labels (feature_flag.key →
// feature_flag_key, feature_flag.result.variant → feature_flag_result_variant); see
// docs/progressive-delivery.md. The comparison is made within time slices (one per analysis), so
// an incident that hits everyone alike cancels out however the flag-on share of traffic moves.
// This module owns the four PromQL reads and the step's progress between analyses (analyzeCohort);
// the pure statistics (tallies, the tests, decideCohort) are in cohort-statistics.ts.
import { COHORT_TALLY_SUMS } from "../api/index.js";
import {
  addSlice,
  COHORT_DEFAULTS,
  type CohortCounts,
  type CohortDecision,
  type CohortSpec,
  type CohortTally,
  decideCohort,
  EMPTY_TALLY,
  pct,
} from "./cohort-statistics.js";
import type { PrometheusApi } from "./prometheus.js";

/** The canary's steps that run the comparison: at 100 % there is no off-cohort. */
export function comparedSteps(steps: readonly { percent: number }[]): number {
  return Math.max(1, steps.filter((s) => s.percent < 100).length);
}

const quoted = (v: string) => `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
const regexOf = (values: readonly string[]) =>
  quoted(values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"));

/** Adds label matchers to a counter selector: `name` or `name{...}`. */
export function withMatchers(selector: string, matchers: string): string {
  const s = selector.trim();
  if (s.endsWith("}")) {
    const open = s.indexOf("{");
    const inner = s.slice(open + 1, -1).trim();
    return `${s.slice(0, open)}{${inner ? `${inner}, ` : ""}${matchers}}`;
  }
  return `${s}{${matchers}}`;
}

export interface CohortQueries {
  onRequests: string;
  onErrors: string;
  offRequests: string;
  offErrors: string;
}

/**
 * The four PromQL reads: each counter's increase over the window, per cohort. `increase()` drops
 * a series' first sample (it only counts increments between samples), so a flag-on error series
 * born inside the window, often at its first error, would go uncounted: series absent just before
 * the window count their latest value instead (everything since they were created).
 */
export function cohortQueries(spec: CohortSpec, flagKey: string, windowSeconds: number): CohortQueries {
  const flagLabel = spec.flagLabel ?? COHORT_DEFAULTS.flagLabel;
  const variantLabel = spec.variantLabel ?? COHORT_DEFAULTS.variantLabel;
  const window = `${Math.max(1, Math.round(windowSeconds))}s`;
  const read = (selector: string, variants: readonly string[]) => {
    const s = withMatchers(
      selector,
      `${flagLabel}=${quoted(flagKey)}, ${variantLabel}=~${regexOf(variants)}`,
    );
    return `sum((increase(${s}[${window}]) and ${s} offset ${window}) or (last_over_time(${s}[${window}]) unless ${s} offset ${window}))`;
  };
  const on = spec.onVariants ?? COHORT_DEFAULTS.onVariants;
  const off = spec.offVariants ?? COHORT_DEFAULTS.offVariants;
  return {
    onRequests: read(spec.requests, on),
    onErrors: read(spec.errors, on),
    offRequests: read(spec.requests, off),
    offErrors: read(spec.errors, off),
  };
}

/** Cumulative counts since the step began, as read at one analysis. */
export interface CohortReading {
  onRequests: number;
  onErrors: number;
  offRequests: number;
  offErrors: number;
}

/**
 * What a step's comparison carries from one analysis to the next (status.cohortAnalysis, written
 * by the analysis loop): the last reading and the tally of slices between readings.
 */
export interface CohortProgress {
  /** The step it belongs to (status.stepStartedAt); another step starts afresh. */
  stepStartedAt: string;
  /** When `reading` was taken. */
  readAt: string;
  reading: CohortReading;
  tally: CohortTally;
}

const READINGS = ["onRequests", "onErrors", "offRequests", "offErrors"] as const;
const count = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0;

/**
 * Progress read back from status is used only when every number in it is a finite count: anything
 * else (an older operator's shape, a hand edit) restarts the step's comparison from its beginning.
 */
export function wellFormed(p: unknown): p is CohortProgress {
  if (typeof p !== "object" || p === null) return false;
  const { reading, tally, stepStartedAt } = p as Partial<CohortProgress>;
  if (typeof stepStartedAt !== "string" || typeof reading !== "object" || typeof tally !== "object")
    return false;
  if (reading === null || tally === null) return false;
  if (!READINGS.every((k) => count(reading[k])) || !COHORT_TALLY_SUMS.every((k) => count(tally[k])))
    return false;
  return tally.mixingVariance === undefined || (count(tally.mixingVariance) && tally.mixingVariance > 0);
}

const ZERO_READING: CohortReading = { onRequests: 0, onErrors: 0, offRequests: 0, offErrors: 0 };

/**
 * The slice between two readings, and the reading to keep. Counts since the step began never fall
 * (increase() extrapolates, so a later read can come out a little lower): a drop is an empty slice
 * and the higher reading is kept, so nothing is counted twice.
 */
export function sliceBetween(previous: CohortReading, current: CohortReading) {
  const keep = (k: keyof CohortReading) =>
    Math.max(previous[k], Number.isFinite(current[k]) ? current[k] : 0);
  const reading: CohortReading = {
    onRequests: keep("onRequests"),
    onErrors: keep("onErrors"),
    offRequests: keep("offRequests"),
    offErrors: keep("offErrors"),
  };
  const slice: CohortCounts = {
    on: { requests: reading.onRequests - previous.onRequests, errors: reading.onErrors - previous.onErrors },
    off: {
      requests: reading.offRequests - previous.offRequests,
      errors: reading.offErrors - previous.offErrors,
    },
  };
  return { slice, reading };
}

/** How many time slices were compared, and the off-cohort's rate at flag-on users' times. */
const slices = ({ tally, comparison }: CohortDecision) =>
  tally.slices > 1 && comparison
    ? ` (${tally.slices} time slices; off-cohort at flag-on users' times ${pct(comparison.offRate)})`
    : "";

/**
 * Reads the cohorts' counts since the step began, adds the slice since the previous analysis of
 * the same step (`previous`, from status) to its tally and decides. Throws what Prometheus throws;
 * an empty result counts as 0 (a counter not yet created).
 */
export async function analyzeCohort(
  spec: CohortSpec,
  flagKey: string,
  comparedStepCount: number,
  prometheus: PrometheusApi,
  now: Date,
  stepStartedAt: Date | undefined,
  previous?: CohortProgress,
): Promise<CohortDecision & { window: number; progress?: CohortProgress }> {
  const elapsed = stepStartedAt ? (now.getTime() - stepStartedAt.getTime()) / 1000 : 0;
  const window = stepStartedAt ? Math.max(1, Math.ceil(elapsed)) : COHORT_DEFAULTS.minWindowSeconds;
  const q = cohortQueries(spec, flagKey, window);
  const value = async (promql: string) => {
    const v = await prometheus.query(promql, now);
    return v.kind === "value" && Number.isFinite(v.value) ? v.value : 0;
  };
  const [onRequests, onErrors, offRequests, offErrors] = await Promise.all([
    value(q.onRequests),
    value(q.onErrors),
    value(q.offRequests),
    value(q.offErrors),
  ]);
  const step = stepStartedAt?.toISOString();
  // Another replica's clock may be ahead (readAt after now): the reading still holds, and a lower
  // count now is an empty slice.
  const same = step !== undefined && wellFormed(previous) && previous.stepStartedAt === step;
  const { slice, reading } = sliceBetween(same ? previous.reading : ZERO_READING, {
    onRequests,
    onErrors,
    offRequests,
    offErrors,
  });
  const tally = addSlice(same ? previous.tally : EMPTY_TALLY, slice, spec.maxRelativeDegradation);
  const decision = decideCohort(spec, tally, comparedStepCount);
  const progress =
    step === undefined
      ? undefined
      : { stepStartedAt: step, readAt: now.toISOString(), reading, tally: decision.tally };
  return {
    ...decision,
    window,
    ...(progress && { progress }),
    message: `${decision.message} over the last ${window}s${slices(decision)}`,
  };
}
