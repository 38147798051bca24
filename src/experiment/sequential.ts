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
// applied to θ = p_treatment − p_control with θ̂ the difference of the observed rates, t the users
// in both arms and σ̂²/t = p̂₁q̂₁/n₁ + p̂₂q̂₂/n₂ the plug-in variance of θ̂. The matching always-valid
// p-value, the smallest α whose sequence excludes 0, is the reciprocal of the mixture likelihood
// ratio of the mSPRT (Johari, Pekelis and Walsh, "Always valid inference", Operations Research
// 2022, §4) with mixing variance ρ²σ̂²:
//
//   p = min(1, √(1 + tρ²) · exp(−z² · tρ² / (2(1 + tρ²)))),  z = θ̂ / √(σ̂²/t).
//
// Both depend on the data only through z and r = tρ², so the mixing parameter is set on the
// standardized scale: ρ² = (−2 log α + log(1 − 2 log α)) / t* makes the interval narrowest when
// t = t* users have been seen (the paper's eq. 2.6), and t* is the fixed-horizon sample size. A
// caller keeps the running minimum of p and the running intersection of intervals across looks;
// both stay valid (the guarantee is uniform over time).

/** r·t* / t: the constant of the paper's ρ choice, −2 log α + log(1 − 2 log α). */
export function mixingConstant(alpha: number): number {
  const l = -2 * Math.log(alpha);
  return l + Math.log(1 + l);
}

/** ρ² tuned so the interval is narrowest after `tunedForUsers` users (both arms). */
export function mixingRho2(alpha: number, tunedForUsers: number): number {
  return mixingConstant(alpha) / Math.max(1, tunedForUsers);
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

export interface SequentialComparison {
  /** Treatment rate minus control rate. */
  readonly difference: number;
  /** θ̂ / standard error (0 when the standard error is 0). */
  readonly z: number;
  /** Standard error of the difference (unpooled plug-in). */
  readonly standardError: number;
  /** tρ²: how far along the mixture is. */
  readonly r: number;
  readonly pValue: number;
  readonly lower: number;
  readonly upper: number;
}

/**
 * The always-valid comparison of a treatment (2) with a control (1) at level 1 − alpha, with the
 * mixture tuned for `tunedForUsers` users in both arms together.
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
      standardError: Number.POSITIVE_INFINITY,
      r: 0,
      pValue: 1,
      lower: -1,
      upper: 1,
    };
  }
  const p1 = conversions1 / n1;
  const p2 = conversions2 / n2;
  const difference = p2 - p1;
  // With 0 % or 100 % in both arms the plug-in variance is 0; half a success per arm (the Agresti–
  // Caffo idea) keeps the interval honest instead of collapsing to a point.
  const q = (c: number, n: number) => {
    const p = (c + 0.5) / (n + 1);
    return (p * (1 - p)) / n;
  };
  const variance =
    (p1 * (1 - p1)) / n1 + (p2 * (1 - p2)) / n2 > 0
      ? (p1 * (1 - p1)) / n1 + (p2 * (1 - p2)) / n2
      : q(conversions1, n1) + q(conversions2, n2);
  const standardError = Math.sqrt(variance);
  const r = ((n1 + n2) * mixingConstant(alpha)) / Math.max(1, tunedForUsers);
  const z = difference / standardError;
  const half = standardError * alwaysValidRadius(alpha, r);
  return {
    difference,
    z,
    standardError,
    r,
    pValue: alwaysValidPValue(z, r),
    lower: Math.max(-1, difference - half),
    upper: Math.min(1, difference + half),
  };
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
