// Experiment analysis: turns per-variant exposure and conversion totals into the shape the operator
// writes to status.experiment. Pure: the caller supplies the counts (from Prometheus), the time and
// the previous result (the running minimum of always-valid p-values, the running intersection of
// always-valid intervals, the frozen plan).
//
// Two methods. `sequential` (the default): always-valid p-values and intervals (./sequential.ts),
// so the verdict may be read at every analysis and the experiment stopped the first time it says
// Significant. `fixed`: the classical two-proportion z-test, whose error rate holds only when it is
// read once, so its verdict is withheld until the planned sample size and then frozen.
import {
  alwaysValidLiftInterval,
  sequentialSampleRatioPValue,
  sequentialTwoProportions,
} from "./sequential.js";
import {
  chiSquareGoodnessOfFit,
  holmAdjust,
  sampleSizePerGroup,
  twoProportionZTest,
  wilsonInterval,
} from "./stats.js";

export type Verdict = "Collecting" | "NotSignificant" | "Significant" | "SampleRatioMismatch";
export type ExperimentMethod = "sequential" | "fixed";

/**
 * Always-valid sample-ratio p-values below this mark a mismatch (the industry's usual, conservative
 * threshold; being always-valid, it bounds the false alarms over the whole experiment, not per look).
 */
export const SRM_THRESHOLD = 0.001;
export const DEFAULTS = { minSamplePerVariant: 1000, minDetectableEffect: 0.05, alpha: 0.05, power: 0.8 };

export interface ExperimentSettings {
  conversionEvent: string;
  control?: string | undefined;
  minSamplePerVariant?: number | undefined;
  minDetectableEffect?: number | undefined;
  alpha?: number | undefined;
  /** Default sequential. */
  method?: ExperimentMethod | undefined;
}

export interface VariantCounts {
  name: string;
  /** Configured weight (percent of on-users). */
  weight: number;
  exposures: number;
  conversions: number;
}

export interface VariantResult {
  name: string;
  weight: number;
  exposures: number;
  conversions: number;
  /** conversions / exposures (capped at 1). */
  rate: number;
  /** Wilson 95 % interval of the rate. */
  rateCi95: [number, number];
  control?: true;
  /** Treatments only: relative lift (rate − control) / control. */
  lift?: number;
  /** Treatments only: 95 % Wald interval of the absolute difference rate − control. */
  differenceCi95?: [number, number];
  /** Treatments only: two-sided two-proportion z-test p-value against control, unadjusted. */
  pValue?: number;
  /** Treatments only: Holm-adjusted p-value (equal to pValue with one treatment). */
  adjustedPValue?: number;
  /** Treatments only: the always-valid comparison with control (both methods report it). */
  alwaysValid?: AlwaysValidResult;
  /** Treatments only: significant under the experiment's method (and past its sample gate). */
  significant?: boolean;
}

/**
 * Present once the plan is frozen (the mixture's tuning no longer moves); the intervals only once
 * both arms have MIN_EVENTS_PER_ARM conversions and non-conversions, when they are valid to read.
 */
export interface AlwaysValidResult {
  /** Running minimum over analyses of the always-valid p-value, unadjusted. */
  pValue: number;
  /** Holm-adjusted over the treatments. */
  adjustedPValue: number;
  /** Running intersection of the always-valid intervals of rate − control at level 1 − alpha/treatments. */
  differenceInterval?: [number, number];
  /**
   * Running intersection of the always-valid Fieller intervals of the relative lift rate/control − 1
   * (accounting for the control rate's uncertainty); omitted while the control rate is not
   * distinguishable from 0, when no finite interval is valid.
   */
  liftInterval?: [number, number];
}

/** Frozen the first time every variant has the minimum sample, so later looks cannot move the goalposts. */
export interface ExperimentPlan {
  /** Control rate observed when the plan was made. */
  baselineRate: number;
  /** Users per variant for minDetectableEffect at 80 % power: the fixed method's horizon. */
  perVariant: number;
  /** Users in a control+treatment pair the always-valid interval is tuned to be narrowest at. */
  tunedForUsers: number;
  at: string;
}

export interface ExperimentResult {
  method: ExperimentMethod;
  verdict: Verdict;
  winner?: string;
  message: string;
  conversionEvent: string;
  control: string;
  alpha: number;
  minSamplePerVariant: number;
  minDetectableEffect: number;
  variants: VariantResult[];
  /**
   * Pearson's chi-square of exposures against weights (descriptive), and the always-valid
   * p-value of the sequential test (running minimum across analyses) that decides the mismatch.
   */
  sampleRatio: { chiSquare: number; degreesOfFreedom: number; pValue: number; mismatch: boolean };
  /** Exposures per variant needed to detect minDetectableEffect at 80 % power, and how many are still missing. */
  sampleSize: { requiredPerVariant: number | null; remaining: number | null; power: number };
  /** Conversions exceeded exposures somewhere: counts are events, not users, and rates were capped. */
  warnings?: string[];
  plan?: ExperimentPlan;
  /** First analysis of this experiment (kept across analyses while method and alpha stay the same). */
  startedAt: string;
  /** Seconds from startedAt to analyzedAt. */
  runningSeconds: number;
  analyzedAt: string;
}

// Math.round rather than toFixed: the simulations call this a few million times, and toFixed is slow.
const round = (x: number, digits = 6) => {
  if (!Number.isFinite(x)) return x;
  const scale = 10 ** digits;
  return Math.round(x * scale) / scale;
};
const interval = (lo: number, hi: number): [number, number] => [round(lo), round(hi)];

/** The running intersection of an interval with the one carried from the previous analysis. */
function intersect(current: [number, number], before: [number, number] | undefined): [number, number] {
  if (before === undefined) return current;
  const lower = Math.max(current[0], before[0]);
  const upper = Math.min(current[1], before[1]);
  // An empty intersection means the asymptotics failed somewhere; keep the current interval.
  return lower > upper ? current : [lower, upper];
}

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
  const alpha = settings.alpha ?? DEFAULTS.alpha;
  const method: ExperimentMethod = settings.method ?? "sequential";
  const minSample = settings.minSamplePerVariant ?? DEFAULTS.minSamplePerVariant;
  const mde = settings.minDetectableEffect ?? DEFAULTS.minDetectableEffect;
  const controlName = settings.control ?? counts[0]?.name ?? "";
  const control = counts.find((c) => c.name === controlName);
  if (control === undefined) throw new Error(`control variant "${controlName}" has no counts`);
  const prior = continues(previous, method, alpha, controlName) ? previous : undefined;
  const warnings: string[] = [];

  const rateOf = (c: VariantCounts) => {
    if (c.conversions > c.exposures) {
      warnings.push(
        `variant ${c.name}: ${c.conversions} conversions exceed ${c.exposures} exposures; count conversions once per user`,
      );
    }
    return { conversions: Math.min(c.conversions, c.exposures), exposures: c.exposures };
  };
  const active = counts.filter((c) => c.weight > 0);
  const treatments = active.filter((c) => c.name !== controlName);
  const cc = rateOf(control);
  const controlRate = cc.exposures > 0 ? cc.conversions / cc.exposures : 0;
  const comparisons = Math.max(1, treatments.length);
  const minExposures = Math.min(...active.map((c) => c.exposures));
  const enough = active.every((c) => c.exposures >= minSample);

  // Sample size for the configured minimum detectable effect on the observed control rate, at
  // alpha split Bonferroni-style over the treatments (conservative for Holm).
  const requiredAt = (rate: number): number | null => {
    const target = rate * (1 + mde);
    if (!(rate > 0) || target >= 1 || !(mde > 0) || treatments.length === 0) return null;
    return Math.ceil(sampleSizePerGroup(rate, target, alpha / comparisons, DEFAULTS.power));
  };
  const requiredNow = requiredAt(controlRate);
  let plan = prior?.plan;
  if (plan === undefined && enough && requiredNow !== null) {
    const perVariant = Math.max(requiredNow, minSample);
    plan = {
      baselineRate: round(controlRate),
      perVariant,
      tunedForUsers: 2 * perVariant,
      at: now.toISOString(),
    };
  }
  // Before the plan is frozen the interval is tuned provisionally; no verdict is given then.
  const tunedForUsers = plan?.tunedForUsers ?? 2 * Math.max(requiredNow ?? minSample, minSample);

  const tests = treatments.map((t) => {
    const tc = rateOf(t);
    return tc.exposures > 0 && cc.exposures > 0
      ? twoProportionZTest(cc.conversions, cc.exposures, tc.conversions, tc.exposures)
      : undefined;
  });
  const adjusted = holmAdjust(tests.map((t) => t?.pValue ?? 1));

  // Always-valid comparisons, carried forward from the previous analysis once the plan is frozen.
  const sequential = treatments.map((t) => {
    const tc = rateOf(t);
    const current = sequentialTwoProportions(
      cc.conversions,
      cc.exposures,
      tc.conversions,
      tc.exposures,
      alpha / comparisons,
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
      alpha / comparisons,
      tunedForUsers,
    );
    return {
      pValue,
      difference: intersect([round(current.lower), round(current.upper)], before?.differenceInterval),
      lift: lift === undefined ? undefined : intersect(interval(lift[0], lift[1]), before?.liftInterval),
    };
  });
  const adjustedSequential = holmAdjust(sequential.map((s) => s.pValue));

  const horizon =
    method === "fixed" ? Math.max(plan?.perVariant ?? Number.POSITIVE_INFINITY, minSample) : minSample;
  const ready = plan !== undefined && active.every((c) => c.exposures >= horizon);

  const variants: VariantResult[] = counts.map((c) => {
    const { conversions, exposures } = c.conversions > c.exposures ? { ...c, conversions: c.exposures } : c;
    const ci = wilsonInterval(conversions, exposures);
    const base: VariantResult = {
      name: c.name,
      weight: c.weight,
      exposures: c.exposures,
      conversions: c.conversions,
      rate: round(exposures > 0 ? conversions / exposures : 0),
      rateCi95: interval(ci.lower, ci.upper),
    };
    if (c.name === controlName) return { ...base, control: true };
    const i = treatments.indexOf(c);
    const test = i >= 0 ? tests[i] : undefined;
    if (test === undefined) return base;
    const adj = adjusted[i] as number;
    const seq = sequential[i] as (typeof sequential)[number];
    const seqAdj = adjustedSequential[i] as number;
    const alwaysValid: AlwaysValidResult = {
      pValue: round(seq.pValue, 8),
      adjustedPValue: round(seqAdj, 8),
    };
    if (seq.difference !== undefined) alwaysValid.differenceInterval = seq.difference;
    if (seq.lift !== undefined) alwaysValid.liftInterval = seq.lift;
    return {
      ...base,
      lift: round(controlRate > 0 ? test.difference / controlRate : Number.NaN),
      differenceCi95: interval(test.differenceInterval.lower, test.differenceInterval.upper),
      pValue: round(test.pValue, 8),
      adjustedPValue: round(adj, 8),
      ...(plan !== undefined ? { alwaysValid } : {}),
      significant: ready && (method === "fixed" ? adj < alpha : seqAdj < alpha),
    };
  });
  // JSON has no NaN: an undefined lift (control rate 0) is left out.
  for (const v of variants) if (v.lift !== undefined && !Number.isFinite(v.lift)) delete v.lift;

  const gof = chiSquareGoodnessOfFit(
    counts.map((c) => c.exposures),
    counts.map((c) => c.weight),
  );
  // The sequential test decides; its running minimum carries over while the weights stay the same.
  let sampleRatioP = round(
    sequentialSampleRatioPValue(
      counts.map((c) => c.exposures),
      counts.map((c) => c.weight),
    ),
    10,
  );
  if (prior !== undefined && sameWeights(prior.variants, counts))
    sampleRatioP = Math.min(sampleRatioP, prior.sampleRatio.pValue);
  const mismatch = sampleRatioP < SRM_THRESHOLD;

  const requiredPerVariant = plan?.perVariant ?? requiredNow;
  const remaining =
    requiredPerVariant === null
      ? null
      : Math.max(0, ...active.map((c) => Math.max(requiredPerVariant, minSample) - c.exposures));

  let verdict: Verdict;
  let winner: string | undefined;
  let message: string;
  const frozen =
    method === "fixed" &&
    prior !== undefined &&
    (prior.verdict === "Significant" || prior.verdict === "NotSignificant");
  if (mismatch) {
    verdict = "SampleRatioMismatch";
    message = `exposures ${counts.map((c) => `${c.name}=${c.exposures}`).join(", ")} do not match weights ${counts
      .map((c) => `${c.name}=${c.weight}`)
      .join(
        ", ",
      )} (always-valid p = ${sampleRatioP.toExponential(2)} < ${SRM_THRESHOLD}); results are untrustworthy`;
  } else if (frozen && prior !== undefined) {
    // A fixed-horizon test is read once: later data do not change its verdict.
    verdict = prior.verdict;
    if (prior.winner !== undefined) winner = prior.winner;
    message = prior.message.endsWith("(fixed-horizon verdict, frozen)")
      ? prior.message
      : `${prior.message} (fixed-horizon verdict, frozen)`;
  } else if (!enough) {
    verdict = "Collecting";
    message = `collecting: ${minExposures} of ${minSample} exposures in the smallest variant`;
  } else if (!ready) {
    verdict = "Collecting";
    message =
      plan === undefined
        ? `collecting: no conversions in ${controlName} yet, so no sample size can be planned`
        : `collecting: ${minExposures} of the planned ${horizon} exposures per variant; a fixed-horizon test is read once, at the planned size`;
  } else {
    const significant = variants.filter((v) => v.significant === true);
    const pOf = (v: VariantResult | undefined) =>
      method === "fixed" ? v?.adjustedPValue : v?.alwaysValid?.adjustedPValue;
    const reading = method === "fixed" ? "fixed-horizon" : "always-valid";
    if (significant.length === 0) {
      verdict = "NotSignificant";
      message =
        method === "fixed"
          ? `no treatment differs from ${controlName} at alpha ${alpha} at the planned ${horizon} exposures per variant`
          : `no treatment differs from ${controlName} yet at alpha ${alpha} (always-valid: safe to keep running and read again)`;
    } else {
      verdict = "Significant";
      const better = significant.filter((v) => v.rate > controlRate).sort((a, b) => b.rate - a.rate);
      winner = better[0]?.name ?? controlName;
      message =
        winner === controlName
          ? `${controlName} beats ${significant.map((v) => v.name).join(", ")} at alpha ${alpha} (${reading})`
          : `${winner} beats ${controlName} (lift ${((better[0]?.lift ?? 0) * 100).toFixed(2)} %, ${reading} adjusted p = ${pOf(
              better[0],
            )})`;
    }
  }

  const startedAt = prior?.startedAt ?? now.toISOString();
  const result: ExperimentResult = {
    method,
    verdict,
    message,
    conversionEvent: settings.conversionEvent,
    control: controlName,
    alpha,
    minSamplePerVariant: minSample,
    minDetectableEffect: mde,
    variants,
    sampleRatio: {
      chiSquare: round(gof.chiSquare),
      degreesOfFreedom: gof.degreesOfFreedom,
      pValue: sampleRatioP,
      mismatch,
    },
    sampleSize: { requiredPerVariant, remaining, power: DEFAULTS.power },
    startedAt,
    runningSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(startedAt)) / 1000)),
    analyzedAt: now.toISOString(),
  };
  if (plan !== undefined) result.plan = plan;
  if (winner !== undefined) result.winner = winner;
  if (warnings.length > 0) result.warnings = [...new Set(warnings)];
  return result;
}
