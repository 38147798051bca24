// Guarded rollouts: compare the error rate of flag-on users with that of flag-off users at every
// analysis, with the always-valid (sequential) test of src/experiment/sequential.ts, so a canary
// rolls back at 1-5 % exposure as soon as the on-cohort is worse with confidence, and advances
// only once the comparison rules out a degradation larger than the configured limit.
//
// The application labels its own request and error counters with the variant it served, using
// OpenTelemetry's feature-flag attribute names as Prometheus labels (feature_flag.key →
// feature_flag_key, feature_flag.result.variant → feature_flag_result_variant); see
// docs/progressive-delivery.md. decideCohort is pure; analyzeCohort adds the four PromQL reads.
import type { FeatureFlagSpec } from "../api/index.js";
import { alwaysValidInterval, mixingConstant } from "../experiment/sequential.js";
import { normalQuantile } from "../experiment/stats.js";
import type { PrometheusApi } from "./prometheus.js";

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

export interface CohortComparison {
  /** Error rates of the two cohorts. */
  onRate: number;
  offRate: number;
  /** Always-valid interval of onRate − offRate. */
  difference: [number, number];
  /** Always-valid interval of onRate − (1 + limit)·offRate: below 0 rules the degradation out. */
  excess: [number, number];
  /** The level each step's test runs at (alpha split over the canary's steps). */
  alpha: number;
}

export interface CohortDecision {
  result: "Passed" | "Failed" | "Inconclusive";
  message: string;
  comparison?: CohortComparison;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const range = ([lo, hi]: [number, number]) => `[${(lo * 100).toFixed(3)}, ${(hi * 100).toFixed(3)}] pp`;

/**
 * The decision for one analysis. `steps` is the canary's number of steps: each step runs its own
 * test at alpha/steps (Bonferroni), so a healthy canary is rolled back with probability at most
 * alpha over the whole ramp.
 */
export function decideCohort(spec: CohortSpec, counts: CohortCounts, steps: number): CohortDecision {
  const limit = spec.maxRelativeDegradation;
  const alpha = (spec.alpha ?? COHORT_DEFAULTS.alpha) / Math.max(1, steps);
  const minRequests = spec.minRequests ?? COHORT_DEFAULTS.minRequests;
  const n1 = Math.max(0, Math.round(counts.on.requests));
  const n0 = Math.max(0, Math.round(counts.off.requests));
  const e1 = Math.min(n1, Math.max(0, Math.round(counts.on.errors)));
  const e0 = Math.min(n0, Math.max(0, Math.round(counts.off.errors)));
  if (n1 < minRequests || n0 < minRequests) {
    return {
      result: "Inconclusive",
      message: `cohort comparison holding: traffic too thin (on ${n1}, off ${n0} requests in this step; need ${minRequests} each)`,
    };
  }
  const p1 = e1 / n1;
  const p0 = e0 / n0;
  // With no errors in a cohort the plug-in variance would be 0: half an error (Agresti–Caffo)
  // keeps the interval honest.
  const rate = (e: number, n: number) => (e > 0 && e < n ? e / n : (e + 0.5) / (n + 1));
  const var1 = (rate(e1, n1) * (1 - rate(e1, n1))) / n1;
  const var0 = (rate(e0, n0) * (1 - rate(e0, n0))) / n0;
  // The mixture is tuned to the information at which a fixed-horizon test would detect the limit
  // with 80 % power (the baseline from the off-cohort, which is the larger and steadier).
  const base = rate(e0, n0);
  const detectable = (limit * base) / (normalQuantile(1 - alpha / 2) + normalQuantile(0.8));
  const tau2 = mixingConstant(alpha) * detectable * detectable;

  const diff = alwaysValidInterval(p1 - p0, var1 + var0, alpha, tau2);
  const k = 1 + limit;
  const excess = alwaysValidInterval(p1 - k * p0, var1 + k * k * var0, alpha, tau2);
  const comparison: CohortComparison = {
    onRate: p1,
    offRate: p0,
    difference: [diff.lower, diff.upper],
    excess: [excess.lower, excess.upper],
    alpha,
  };
  const rates = `on ${pct(p1)} (${e1}/${n1}) vs off ${pct(p0)} (${e0}/${n0})`;
  if (diff.lower > 0) {
    return {
      result: "Failed",
      message: `cohort comparison: flag-on users fail more: ${rates}; always-valid ${Number(((1 - alpha) * 100).toFixed(2))}% interval of on − off ${range(comparison.difference)} excludes 0`,
      comparison,
    };
  }
  if (excess.upper < 0) {
    return {
      result: "Passed",
      message: `cohort comparison: ${rates}; a degradation above ${limit * 100}% is ruled out (on − ${k}·off < 0, upper ${(excess.upper * 100).toFixed(2)} pp)`,
      comparison,
    };
  }
  return {
    result: "Inconclusive",
    message: `cohort comparison holding: ${rates}; on − off ${range(comparison.difference)} cannot yet rule out a degradation above ${limit * 100}%`,
    comparison,
  };
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

/** The four PromQL reads: increase of each counter over the window, per cohort. */
export function cohortQueries(spec: CohortSpec, flagKey: string, windowSeconds: number): CohortQueries {
  const flagLabel = spec.flagLabel ?? COHORT_DEFAULTS.flagLabel;
  const variantLabel = spec.variantLabel ?? COHORT_DEFAULTS.variantLabel;
  const window = `${Math.max(1, Math.round(windowSeconds))}s`;
  const read = (selector: string, variants: readonly string[]) =>
    `sum(increase(${withMatchers(selector, `${flagLabel}=${quoted(flagKey)}, ${variantLabel}=~${regexOf(variants)}`)}[${window}]))`;
  const on = spec.onVariants ?? COHORT_DEFAULTS.onVariants;
  const off = spec.offVariants ?? COHORT_DEFAULTS.offVariants;
  return {
    onRequests: read(spec.requests, on),
    onErrors: read(spec.errors, on),
    offRequests: read(spec.requests, off),
    offErrors: read(spec.errors, off),
  };
}

/**
 * Reads the cohorts' counts since the step began (at least COHORT_DEFAULTS.minWindowSeconds) and
 * decides. Throws what Prometheus throws; an empty result counts as 0 (a counter not yet created).
 */
export async function analyzeCohort(
  spec: CohortSpec,
  flagKey: string,
  steps: number,
  prometheus: PrometheusApi,
  now: Date,
  stepStartedAt: Date | undefined,
): Promise<CohortDecision & { window: number }> {
  const elapsed = stepStartedAt ? (now.getTime() - stepStartedAt.getTime()) / 1000 : 0;
  const window = Math.max(COHORT_DEFAULTS.minWindowSeconds, Math.ceil(elapsed));
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
  const decision = decideCohort(
    spec,
    { on: { requests: onRequests, errors: onErrors }, off: { requests: offRequests, errors: offErrors } },
    steps,
  );
  return { ...decision, window, message: `${decision.message} over the last ${window}s` };
}
