// Experiment analysis: turns per-variant exposure and conversion totals into the shape the operator
// writes to status.experiment. Pure: the caller supplies the counts (from Prometheus), the time and
// the previous result (the running minimum of always-valid p-values, the running intersection of
// always-valid intervals, the frozen plan).
//
// Two methods. `sequential` (the default): always-valid p-values and intervals (./sequential.ts),
// so the verdict may be read at every analysis and the experiment stopped the first time it says
// Significant. `fixed`: the classical two-proportion z-test, whose error rate holds only when it is
// read once, so its verdict is withheld until the planned sample size and then frozen.
// The per-variant comparisons are in comparisons.ts, the result's shape in result.ts.
import {
  alwaysValidComparisons,
  type ComparisonInputs,
  type Counted,
  fixedHorizonTests,
  round,
  variantResults,
} from "./comparisons.js";
import type {
  ExperimentMethod,
  ExperimentResult,
  ExperimentSettings,
  VariantCounts,
  VariantResult,
  Verdict,
} from "./result.js";
import { sequentialSampleRatioPValue } from "./sequential.js";
import { chiSquareGoodnessOfFit, sampleSizePerGroup } from "./stats.js";

export type {
  AlwaysValidResult,
  ExperimentMethod,
  ExperimentPlan,
  ExperimentResult,
  ExperimentSettings,
  VariantCounts,
  VariantResult,
  Verdict,
} from "./result.js";

/**
 * Always-valid sample-ratio p-values below this mark a mismatch (the industry's usual, conservative
 * threshold; being always-valid, it bounds the false alarms over the whole experiment, not per look).
 */
export const SRM_THRESHOLD = 0.001;
export const DEFAULTS = { minSamplePerVariant: 1000, minDetectableEffect: 0.05, alpha: 0.05, power: 0.8 };

/** The sample-ratio test continues only while every variant keeps its weight. */
function sameWeights(before: readonly { name: string; weight: number }[], now: readonly VariantCounts[]) {
  return (
    before.length === now.length &&
    now.every((c) => before.find((v) => v.name === c.name)?.weight === c.weight)
  );
}

/** Whether a previous result carries state this analysis may continue from. */
function continues(
  previous: ExperimentResult | undefined,
  method: ExperimentMethod,
  alpha: number,
  control: string,
) {
  return (
    previous !== undefined &&
    previous.method === method &&
    previous.alpha === alpha &&
    previous.control === control &&
    Array.isArray(previous.variants)
  );
}

/**
 * Analyzes one experiment. Variants with weight 0 take part in the sample ratio check (they must
 * get no exposures) but not in the comparisons. `previous` is the last result written (status
 * .experiment); pass it so the always-valid values accumulate across analyses.
 */
export function analyzeExperiment(
  settings: ExperimentSettings,
  counts: readonly VariantCounts[],
  now: Date,
  previous?: ExperimentResult,
): ExperimentResult {
  const a = analysisOf(settings, counts, previous);
  const { plan, requiredNow, tunedForUsers } = planOf(a, now);
  const fixed = fixedHorizonTests(a);
  const alwaysValid = alwaysValidComparisons(a, tunedForUsers, a.prior);
  const horizon =
    a.method === "fixed" ? Math.max(plan?.perVariant ?? Number.POSITIVE_INFINITY, a.minSample) : a.minSample;
  const ready = plan !== undefined && a.active.every((c) => c.exposures >= horizon);
  const variants = variantResults(a, counts, fixed, alwaysValid, { planned: plan !== undefined, ready });
  const sampleRatio = sampleRatioOf(counts, a.prior);
  const requiredPerVariant = plan?.perVariant ?? requiredNow;
  const remaining =
    requiredPerVariant === null
      ? null
      : Math.max(0, ...a.active.map((c) => Math.max(requiredPerVariant, a.minSample) - c.exposures));
  const { verdict, winner, message } = verdictOf(a, counts, variants, {
    sampleRatioP: sampleRatio.pValue,
    planned: plan !== undefined,
    ready,
    horizon,
  });

  const startedAt = a.prior?.startedAt ?? now.toISOString();
  const result: ExperimentResult = {
    method: a.method,
    verdict,
    message,
    conversionEvent: settings.conversionEvent,
    control: a.controlName,
    alpha: a.alpha,
    minSamplePerVariant: a.minSample,
    minDetectableEffect: a.mde,
    variants,
    sampleRatio,
    sampleSize: { requiredPerVariant, remaining, power: DEFAULTS.power },
    startedAt,
    runningSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(startedAt)) / 1000)),
    analyzedAt: now.toISOString(),
  };
  if (plan !== undefined) result.plan = plan;
  if (winner !== undefined) result.winner = winner;
  if (a.warnings.length > 0) result.warnings = [...new Set(a.warnings)];
  return result;
}

/** What one analysis reads from its settings, counts and the previous result. */
interface Analysis extends ComparisonInputs {
  minSample: number;
  mde: number;
  prior: ExperimentResult | undefined;
  /** Variants with a weight above 0: the ones compared and gated on sample size. */
  active: readonly VariantCounts[];
  minExposures: number;
  /** Every active variant has the minimum sample. */
  enough: boolean;
  warnings: string[];
}

function analysisOf(
  settings: ExperimentSettings,
  counts: readonly VariantCounts[],
  previous: ExperimentResult | undefined,
): Analysis {
  const alpha = settings.alpha ?? DEFAULTS.alpha;
  const method: ExperimentMethod = settings.method ?? "sequential";
  const minSample = settings.minSamplePerVariant ?? DEFAULTS.minSamplePerVariant;
  const controlName = settings.control ?? counts[0]?.name ?? "";
  const control = counts.find((c) => c.name === controlName);
  if (control === undefined) throw new Error(`control variant "${controlName}" has no counts`);
  const warnings: string[] = [];
  const capped = (c: VariantCounts): Counted => {
    if (c.conversions > c.exposures) {
      warnings.push(
        `variant ${c.name}: ${c.conversions} conversions exceed ${c.exposures} exposures; count conversions once per user`,
      );
    }
    return { conversions: Math.min(c.conversions, c.exposures), exposures: c.exposures };
  };
  const active = counts.filter((c) => c.weight > 0);
  const treatments = active.filter((c) => c.name !== controlName);
  const cc = capped(control);
  return {
    alpha,
    method,
    minSample,
    mde: settings.minDetectableEffect ?? DEFAULTS.minDetectableEffect,
    controlName,
    control: cc,
    controlRate: cc.exposures > 0 ? cc.conversions / cc.exposures : 0,
    treatments,
    treatmentCounts: treatments.map(capped),
    comparisons: Math.max(1, treatments.length),
    prior: continues(previous, method, alpha, controlName) ? previous : undefined,
    active,
    minExposures: Math.min(...active.map((c) => c.exposures)),
    enough: active.every((c) => c.exposures >= minSample),
    warnings,
  };
}

/**
 * The plan, frozen the first time every variant has the minimum sample: the sample size for the
 * minimum detectable effect on the observed control rate, at alpha split Bonferroni-style over the
 * treatments (conservative for Holm). Before it is frozen the interval is tuned provisionally.
 */
function planOf(a: Analysis, now: Date) {
  const target = a.controlRate * (1 + a.mde);
  const requiredNow =
    !(a.controlRate > 0) || target >= 1 || !(a.mde > 0) || a.treatments.length === 0
      ? null
      : Math.ceil(sampleSizePerGroup(a.controlRate, target, a.alpha / a.comparisons, DEFAULTS.power));
  let plan = a.prior?.plan;
  if (plan === undefined && a.enough && requiredNow !== null) {
    const perVariant = Math.max(requiredNow, a.minSample);
    plan = {
      baselineRate: round(a.controlRate),
      perVariant,
      tunedForUsers: 2 * perVariant,
      at: now.toISOString(),
    };
  }
  const tunedForUsers = plan?.tunedForUsers ?? 2 * Math.max(requiredNow ?? a.minSample, a.minSample);
  return { plan, requiredNow, tunedForUsers };
}

/**
 * Pearson's chi-square (descriptive) and the sequential test that decides; its running minimum
 * carries over while the weights stay the same.
 */
function sampleRatioOf(counts: readonly VariantCounts[], prior: ExperimentResult | undefined) {
  const exposures = counts.map((c) => c.exposures);
  const weights = counts.map((c) => c.weight);
  const gof = chiSquareGoodnessOfFit(exposures, weights);
  let pValue = round(sequentialSampleRatioPValue(exposures, weights), 10);
  if (prior !== undefined && sameWeights(prior.variants, counts))
    pValue = Math.min(pValue, prior.sampleRatio.pValue);
  return {
    chiSquare: round(gof.chiSquare),
    degreesOfFreedom: gof.degreesOfFreedom,
    pValue,
    mismatch: pValue < SRM_THRESHOLD,
  };
}

type VerdictOf = { verdict: Verdict; winner?: string | undefined; message: string };

function verdictOf(
  a: Analysis,
  counts: readonly VariantCounts[],
  variants: readonly VariantResult[],
  at: { sampleRatioP: number; planned: boolean; ready: boolean; horizon: number },
): VerdictOf {
  const { prior, method, controlName, minSample, minExposures } = a;
  if (at.sampleRatioP < SRM_THRESHOLD) {
    const exposures = counts.map((c) => `${c.name}=${c.exposures}`).join(", ");
    const weights = counts.map((c) => `${c.name}=${c.weight}`).join(", ");
    return {
      verdict: "SampleRatioMismatch",
      message: `exposures ${exposures} do not match weights ${weights} (always-valid p = ${at.sampleRatioP.toExponential(2)} < ${SRM_THRESHOLD}); results are untrustworthy`,
    };
  }
  if (
    method === "fixed" &&
    prior !== undefined &&
    (prior.verdict === "Significant" || prior.verdict === "NotSignificant")
  ) {
    // A fixed-horizon test is read once: later data do not change its verdict.
    const message = prior.message.endsWith("(fixed-horizon verdict, frozen)")
      ? prior.message
      : `${prior.message} (fixed-horizon verdict, frozen)`;
    return { verdict: prior.verdict, winner: prior.winner, message };
  }
  if (!a.enough) {
    return {
      verdict: "Collecting",
      message: `collecting: ${minExposures} of ${minSample} exposures in the smallest variant`,
    };
  }
  if (!at.ready) {
    return {
      verdict: "Collecting",
      message: !at.planned
        ? `collecting: no conversions in ${controlName} yet, so no sample size can be planned`
        : `collecting: ${minExposures} of the planned ${at.horizon} exposures per variant; a fixed-horizon test is read once, at the planned size`,
    };
  }
  return significanceVerdict(a, variants, at.horizon);
}

/** The verdict once the test may be read: which treatments differ from control, and the winner. */
function significanceVerdict(a: Analysis, variants: readonly VariantResult[], horizon: number): VerdictOf {
  const { method, controlName, alpha, controlRate } = a;
  const significant = variants.filter((v) => v.significant === true);
  if (significant.length === 0) {
    return {
      verdict: "NotSignificant",
      message:
        method === "fixed"
          ? `no treatment differs from ${controlName} at alpha ${alpha} at the planned ${horizon} exposures per variant`
          : `no treatment differs from ${controlName} yet at alpha ${alpha} (always-valid: safe to keep running and read again)`,
    };
  }
  const reading = method === "fixed" ? "fixed-horizon" : "always-valid";
  const better = significant.filter((v) => v.rate > controlRate).sort((x, y) => y.rate - x.rate);
  const winner = better[0]?.name ?? controlName;
  const pOf = (v: VariantResult | undefined) =>
    method === "fixed" ? v?.adjustedPValue : v?.alwaysValid?.adjustedPValue;
  return {
    verdict: "Significant",
    winner,
    message:
      winner === controlName
        ? `${controlName} beats ${significant.map((v) => v.name).join(", ")} at alpha ${alpha} (${reading})`
        : `${winner} beats ${controlName} (lift ${((better[0]?.lift ?? 0) * 100).toFixed(2)} %, ${reading} adjusted p = ${pOf(better[0])})`,
  };
}
