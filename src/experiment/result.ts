// The shape of an experiment's analysis: the settings and per-variant counts it reads, and the
// result the operator writes to status.experiment (verdict, per-variant comparisons, plan).

export type Verdict = "Collecting" | "NotSignificant" | "Significant" | "SampleRatioMismatch";
export type ExperimentMethod = "sequential" | "fixed";

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
