// Experiment analysis: turns per-variant exposure and conversion totals into the shape the operator
// writes to status.experiment. Pure: the caller supplies the counts (from Prometheus) and the time.
import {
  chiSquareGoodnessOfFit,
  holmAdjust,
  sampleSizePerGroup,
  twoProportionZTest,
  wilsonInterval,
} from "./stats.js";

export type Verdict = "Collecting" | "NotSignificant" | "Significant" | "SampleRatioMismatch";

/** p-values below this mark a sample ratio mismatch (the industry's usual, conservative threshold). */
export const SRM_THRESHOLD = 0.001;
export const DEFAULTS = { minSamplePerVariant: 1000, minDetectableEffect: 0.05, alpha: 0.05, power: 0.8 };

export interface ExperimentSettings {
  conversionEvent: string;
  control?: string | undefined;
  minSamplePerVariant?: number | undefined;
  minDetectableEffect?: number | undefined;
  alpha?: number | undefined;
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
  significant?: boolean;
}

export interface ExperimentResult {
  verdict: Verdict;
  winner?: string;
  message: string;
  conversionEvent: string;
  control: string;
  alpha: number;
  minSamplePerVariant: number;
  minDetectableEffect: number;
  variants: VariantResult[];
  sampleRatio: { chiSquare: number; degreesOfFreedom: number; pValue: number; mismatch: boolean };
  /** Exposures per variant needed to detect minDetectableEffect at 80 % power, and how many are still missing. */
  sampleSize: { requiredPerVariant: number | null; remaining: number | null; power: number };
  /** Conversions exceeded exposures somewhere: counts are events, not users, and rates were capped. */
  warnings?: string[];
  analyzedAt: string;
}

const round = (x: number, digits = 6) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
const interval = (lo: number, hi: number): [number, number] => [round(lo), round(hi)];

/**
 * Analyzes one experiment. Variants with weight 0 take part in the sample ratio check (they must
 * get no exposures) but not in the comparisons.
 */
export function analyzeExperiment(
  settings: ExperimentSettings,
  counts: readonly VariantCounts[],
  now: Date,
): ExperimentResult {
  const alpha = settings.alpha ?? DEFAULTS.alpha;
  const minSample = settings.minSamplePerVariant ?? DEFAULTS.minSamplePerVariant;
  const mde = settings.minDetectableEffect ?? DEFAULTS.minDetectableEffect;
  const controlName = settings.control ?? counts[0]?.name ?? "";
  const control = counts.find((c) => c.name === controlName);
  if (control === undefined) throw new Error(`control variant "${controlName}" has no counts`);
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

  const tests = treatments.map((t) => {
    const tc = rateOf(t);
    return tc.exposures > 0 && cc.exposures > 0
      ? twoProportionZTest(cc.conversions, cc.exposures, tc.conversions, tc.exposures)
      : undefined;
  });
  const adjusted = holmAdjust(tests.map((t) => t?.pValue ?? 1));
  const enough = active.every((c) => c.exposures >= minSample);

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
    return {
      ...base,
      lift: round(controlRate > 0 ? test.difference / controlRate : Number.NaN),
      differenceCi95: interval(test.differenceInterval.lower, test.differenceInterval.upper),
      pValue: round(test.pValue, 8),
      adjustedPValue: round(adj, 8),
      significant: enough && adj < alpha,
    };
  });
  // JSON has no NaN: an undefined lift (control rate 0) is left out.
  for (const v of variants) if (v.lift !== undefined && !Number.isFinite(v.lift)) delete v.lift;

  const gof = chiSquareGoodnessOfFit(
    counts.map((c) => c.exposures),
    counts.map((c) => c.weight),
  );
  const mismatch = gof.pValue < SRM_THRESHOLD;

  // Sample size for the configured minimum detectable effect on the observed control rate, at
  // alpha split Bonferroni-style over the treatments (conservative for Holm).
  let requiredPerVariant: number | null = null;
  let remaining: number | null = null;
  const target = controlRate * (1 + mde);
  if (controlRate > 0 && target < 1 && mde > 0 && treatments.length > 0) {
    requiredPerVariant = Math.ceil(sampleSizePerGroup(controlRate, target, alpha / treatments.length, 0.8));
    const needed = Math.max(requiredPerVariant, minSample);
    remaining = Math.max(0, ...active.map((c) => needed - c.exposures));
  }

  let verdict: Verdict;
  let winner: string | undefined;
  let message: string;
  const minExposures = Math.min(...active.map((c) => c.exposures));
  if (mismatch) {
    verdict = "SampleRatioMismatch";
    message = `exposures ${counts.map((c) => `${c.name}=${c.exposures}`).join(", ")} do not match weights ${counts
      .map((c) => `${c.name}=${c.weight}`)
      .join(
        ", ",
      )} (chi-square p = ${gof.pValue.toExponential(2)} < ${SRM_THRESHOLD}); results are untrustworthy`;
  } else if (!enough) {
    verdict = "Collecting";
    message = `collecting: ${minExposures} of ${minSample} exposures in the smallest variant`;
  } else {
    const significant = variants.filter((v) => v.significant === true);
    if (significant.length === 0) {
      verdict = "NotSignificant";
      message = `no treatment differs from ${controlName} at alpha ${alpha}${
        remaining ? ` (about ${remaining} more exposures per variant to detect a ${mde * 100} % lift)` : ""
      }`;
    } else {
      verdict = "Significant";
      const better = significant.filter((v) => v.rate > controlRate).sort((a, b) => b.rate - a.rate);
      winner = better[0]?.name ?? controlName;
      message =
        winner === controlName
          ? `${controlName} beats ${significant.map((v) => v.name).join(", ")} at alpha ${alpha}`
          : `${winner} beats ${controlName} (lift ${((better[0]?.lift ?? 0) * 100).toFixed(2)} %, adjusted p = ${
              better[0]?.adjustedPValue
            })`;
    }
  }

  const result: ExperimentResult = {
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
      pValue: round(gof.pValue, 10),
      mismatch,
    },
    sampleSize: { requiredPerVariant, remaining, power: 0.8 },
    analyzedAt: now.toISOString(),
  };
  if (winner !== undefined) result.winner = winner;
  if (warnings.length > 0) result.warnings = [...new Set(warnings)];
  return result;
}
