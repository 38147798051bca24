// Always-valid inference for the difference of two proportions: a p-value and a confidence
// interval that keep their error guarantee however often they are read and whenever the reader
// stops. Pure; no I/O.
//
// The method is the Gaussian-mixture boundary (Robbins 1970) in the form of the asymptotic
// confidence sequence of Waudby-Smith, Arnold, Wu and Ramdas, "Time-uniform central limit theory
// and asymptotic confidence sequences" (Annals of Statistics, 2024; arXiv:2103.06476, Theorem 2.2):
//
//   θ̂ₜ ± σ̂ₜ · √( 2(tρ² + 1) / (t²ρ²) · log(√(tρ² + 1) / α) )
//
// applied to θ = p_treatment − p_control, t the users in both arms and σ̂²/t the variance of θ̂:
// for the interval the plug-in variance with a pseudo-success and a pseudo-failure per arm, for
// the test of θ = 0 the variance under that null, p̄q̄(1/n₁ + 1/n₂) (see sequentialTwoProportions).
// The matching always-valid p-value, the smallest α whose sequence excludes 0, is the reciprocal
// of the mixture likelihood ratio of the mSPRT (Johari, Pekelis and Walsh, "Always valid
// inference", Operations Research 2022, §4) with mixing variance ρ²σ̂²:
//
//   p = min(1, √(1 + tρ²) · exp(−z² · tρ² / (2(1 + tρ²)))),  z = θ̂ / √(σ̂²/t).
//
// Both depend on the data only through z and r = tρ², so the mixing parameter is set on the
// standardized scale: ρ² = (−2 log α + log(1 − 2 log α)) / t* makes the interval narrowest when
// t = t* users have been seen (the paper's eq. 2.6), and t* is the fixed-horizon sample size. A
// caller keeps the running minimum of p and the running intersection of intervals across looks;
// both stay valid (the guarantee is uniform over time). The sample-ratio test at the end of the
// file is exact rather than asymptotic (a Dirichlet–multinomial test martingale).

import { lnGamma } from "./stats.js";

/** r·t* / t: the constant of the paper's ρ choice, −2 log α + log(1 − 2 log α). */
export function mixingConstant(alpha: number): number {
  const l = -2 * Math.log(alpha);
  return l + Math.log(1 + l);
}

/** The always-valid p-value of H₀: θ = 0 for a z statistic after t users (r = tρ²). */
export function alwaysValidPValue(z: number, r: number): number {
  if (!(r > 0) || !Number.isFinite(z)) return 1;
  const logP = 0.5 * Math.log1p(r) - (z * z * r) / (2 * (1 + r));
  return Math.min(1, Math.exp(logP));
}

/** Half-width, in standard errors, of the always-valid interval at level 1 − α (r = tρ²). */
export function alwaysValidRadius(alpha: number, r: number): number {
  if (!(r > 0)) return Number.POSITIVE_INFINITY;
  return Math.sqrt(((1 + r) / r) * 2 * Math.log(Math.sqrt(1 + r) / alpha));
}

/**
 * Conversions and non-conversions each arm needs before its always-valid interval is shown: below
 * that the normal approximation of an arm's rate is poor (the textbook np ≥ 5 rule, asked of both
 * outcomes), and an interval read then can exclude 0 far more often than alpha.
 */
export const MIN_EVENTS_PER_ARM = 5;

export interface SequentialComparison {
  /** Treatment rate minus control rate (observed). */
  readonly difference: number;
  /** θ̂ / null standard error (0 when no arm has a conversion, or every user converted). */
  readonly z: number;
  /** Standard error of the difference under H₀ (pooled rate), which the p-value uses. */
  readonly nullStandardError: number;
  /** Standard error of the difference with one pseudo-success and one pseudo-failure per arm, which the interval uses. */
  readonly standardError: number;
  /** tρ²: how far along the mixture is. */
  readonly r: number;
  readonly pValue: number;
  readonly lower: number;
  readonly upper: number;
  /** Both arms have MIN_EVENTS_PER_ARM conversions and non-conversions: the interval may be read. */
  readonly intervalReadable: boolean;
}

/**
 * The always-valid comparison of a treatment (2) with a control (1) at level 1 − alpha, with the
 * mixture tuned for `tunedForUsers` users in both arms together.
 *
 * The p-value standardizes the difference by its variance under the null hypothesis it tests, the
 * pooled p̄q̄(1/n₁ + 1/n₂) (the two-proportion z-test's, and the one Johari et al.'s mSPRT for
 * binary outcomes uses): it cannot collapse when one arm has no conversions yet, because it takes
 * the rate from both arms together. (The plug-in variance p̂₁q̂₁/n₁ + p̂₂q̂₂/n₂ does collapse: with
 * 0 conversions in a small arm it is the other arm's alone, and an A/A split 90/10 at a 0.1 % rate
 * was called significant in a quarter of the runs.)
 *
 * The interval cannot use the null variance (it must cover differences other than 0), so it takes
 * the plug-in variance with one pseudo-success and one pseudo-failure in every arm, centred on the
 * adjusted difference (Agresti and Caffo, "Simple and effective confidence intervals for
 * proportions and differences of proportions result from adding two successes and two failures",
 * The American Statistician 2000), and is marked readable only once every arm has
 * MIN_EVENTS_PER_ARM conversions and non-conversions.
 */
export function sequentialTwoProportions(
  conversions1: number,
  n1: number,
  conversions2: number,
  n2: number,
  alpha: number,
  tunedForUsers: number,
): SequentialComparison {
  if (n1 <= 0 || n2 <= 0) {
    return {
      difference: 0,
      z: 0,
      nullStandardError: Number.POSITIVE_INFINITY,
      standardError: Number.POSITIVE_INFINITY,
      r: 0,
      pValue: 1,
      lower: -1,
      upper: 1,
      intervalReadable: false,
    };
  }
  const difference = conversions2 / n2 - conversions1 / n1;
  const pooled = (conversions1 + conversions2) / (n1 + n2);
  const nullStandardError = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  const z = nullStandardError > 0 ? difference / nullStandardError : 0;
  const r = ((n1 + n2) * mixingConstant(alpha)) / Math.max(1, tunedForUsers);
  const adjusted1 = (conversions1 + 1) / (n1 + 2);
  const adjusted2 = (conversions2 + 1) / (n2 + 2);
  const standardError = Math.sqrt(
    (adjusted1 * (1 - adjusted1)) / (n1 + 2) + (adjusted2 * (1 - adjusted2)) / (n2 + 2),
  );
  const centre = adjusted2 - adjusted1;
  const half = standardError * alwaysValidRadius(alpha, r);
  const enough = (c: number, n: number) => c >= MIN_EVENTS_PER_ARM && n - c >= MIN_EVENTS_PER_ARM;
  return {
    difference,
    z,
    nullStandardError,
    standardError,
    r,
    pValue: alwaysValidPValue(z, r),
    lower: Math.max(-1, centre - half),
    upper: Math.min(1, centre + half),
    intervalReadable: enough(conversions1, n1) && enough(conversions2, n2),
  };
}

/**
 * Always-valid interval of the relative lift p₂/p₁ − 1 by Fieller's theorem (Fieller, "Some
 * problems in interval estimation", JRSS B 1954): the set of ratios R whose contrast p₂ − R·p₁ the
 * always-valid boundary does not reject, {R : (p̂₂ − R p̂₁)² ≤ k²(v₂ + R² v₁)} with k the radius in
 * standard errors. It carries the control rate's uncertainty (dividing the difference interval by
 * the observed control rate does not), and it is bounded only when the control rate is itself
 * distinguishable from 0 at that level (p̂₁² > k² v₁); otherwise it returns undefined, as no finite
 * interval is valid. Rates and variances are the pseudo-count ones of sequentialTwoProportions.
 */
export function alwaysValidLiftInterval(
  conversions1: number,
  n1: number,
  conversions2: number,
  n2: number,
  alpha: number,
  tunedForUsers: number,
): [number, number] | undefined {
  if (n1 <= 0 || n2 <= 0) return undefined;
  const r = ((n1 + n2) * mixingConstant(alpha)) / Math.max(1, tunedForUsers);
  return fiellerLiftInterval(conversions1, n1, conversions2, n2, alwaysValidRadius(alpha, r));
}

/** Fieller's interval of p₂/p₁ − 1 at `k` standard errors (pseudo-count rates), or undefined when unbounded. */
export function fiellerLiftInterval(
  conversions1: number,
  n1: number,
  conversions2: number,
  n2: number,
  k: number,
): [number, number] | undefined {
  if (!Number.isFinite(k)) return undefined;
  const p1 = (conversions1 + 1) / (n1 + 2);
  const p2 = (conversions2 + 1) / (n2 + 2);
  const v1 = (p1 * (1 - p1)) / (n1 + 2);
  const v2 = (p2 * (1 - p2)) / (n2 + 2);
  const k2 = k * k;
  // (p₁² − k²v₁)R² − 2p₁p₂R + (p₂² − k²v₂) ≤ 0
  const a = p1 * p1 - k2 * v1;
  if (!(a > 0)) return undefined;
  const b = p1 * p2;
  const discriminant = b * b - a * (p2 * p2 - k2 * v2);
  const root = Math.sqrt(Math.max(0, discriminant));
  // A ratio of rates is never negative, so the lift is at least −1.
  return [Math.max(-1, (b - root) / a - 1), (b + root) / a - 1];
}

export interface AlwaysValidInterval {
  readonly estimate: number;
  readonly standardError: number;
  readonly lower: number;
  readonly upper: number;
  /** P-value of H₀: the contrast is 0. */
  readonly pValue: number;
}

/**
 * The same boundary for any asymptotically normal estimate with plug-in variance `variance`, the
 * mixture given on the estimate's own scale (mixing variance τ², so r = τ²/variance; Johari et
 * al.'s mSPRT in its original form). Used by guarded rollouts for error-rate contrasts.
 */
export function alwaysValidInterval(
  estimate: number,
  variance: number,
  alpha: number,
  mixingVariance: number,
): AlwaysValidInterval {
  const standardError = Math.sqrt(variance);
  if (!(variance > 0) || !(mixingVariance > 0)) {
    return {
      estimate,
      standardError,
      lower: Number.NEGATIVE_INFINITY,
      upper: Number.POSITIVE_INFINITY,
      pValue: 1,
    };
  }
  const r = mixingVariance / variance;
  const half = standardError * alwaysValidRadius(alpha, r);
  return {
    estimate,
    standardError,
    lower: estimate - half,
    upper: estimate + half,
    pValue: alwaysValidPValue(estimate / standardError, r),
  };
}

/**
 * Prior concentration of the sequential sample-ratio test: the Dirichlet prior is centred on the
 * configured shares with this many pseudo-users in total. Smaller reacts faster to gross
 * mismatches, larger to slight ones; at 100 no sample of fewer than ~30 users can be flagged at
 * 0.001 (it needs evidence, not just a lopsided first handful).
 */
export const SRM_PRIOR_USERS = 100;

/**
 * Always-valid p-value that exposures follow the configured shares: the Dirichlet–multinomial
 * Bayes factor of Lindon and Malek ("Anytime-valid inference for multinomial count data", NeurIPS
 * 2022), a test martingale under the null, so by Ville's inequality 1/BF may be read after every
 * user and stays below alpha with probability at most alpha over the whole experiment:
 *
 *   BF = [B(a + x) / B(a)] / Π θᵢ^xᵢ,   a = SRM_PRIOR_USERS·θ,   B the multivariate beta function.
 *
 * Categories with zero weight must have zero observations (any exposure there is proof of a
 * mismatch: p = 0) and are otherwise left out. A caller may keep the running minimum across looks.
 */
export function sequentialSampleRatioPValue(
  observed: readonly number[],
  weights: readonly number[],
  priorUsers = SRM_PRIOR_USERS,
): number {
  if (observed.length !== weights.length) throw new Error("observed and weights differ in length");
  const weightSum = weights.reduce((s, w) => s + Math.max(0, w), 0);
  let logBayesFactor = 0;
  let total = 0;
  let categories = 0;
  for (let i = 0; i < observed.length; i++) {
    const x = observed[i] as number;
    const w = weights[i] as number;
    if (!(w > 0)) {
      if (x > 0) return 0;
      continue;
    }
    const share = w / weightSum;
    const a = priorUsers * share;
    logBayesFactor += lnGamma(a + x) - lnGamma(a) - x * Math.log(share);
    total += x;
    categories++;
  }
  if (categories < 2 || total === 0) return 1;
  logBayesFactor += lnGamma(priorUsers) - lnGamma(priorUsers + total);
  return Math.min(1, Math.exp(-logBayesFactor));
}
