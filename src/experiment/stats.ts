// Pure statistics for experiment analysis: the normal and chi-square distributions, the Wilson
// score interval, the two-proportion z-test, Holm's step-down correction and the sample size of a
// two-proportion test. No I/O, no dependencies; each function names its method so the results
// can be checked against the textbook or tool the unit tests cite.

/**
 * Standard normal cumulative distribution Φ(x): Hart's (1968) double-precision rational
 * approximation as given by G. West, "Better approximations to cumulative normal functions"
 * (Wilmott, 2005); absolute error below 1e-14.
 */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  const a = Math.abs(x);
  let c: number;
  if (a > 37) {
    c = 0;
  } else {
    const e = Math.exp((-a * a) / 2);
    if (a < 7.07106781186547) {
      let n = 3.52624965998911e-2 * a + 0.700383064443688;
      n = n * a + 6.37396220353165;
      n = n * a + 33.912866078383;
      n = n * a + 112.079291497871;
      n = n * a + 221.213596169931;
      n = n * a + 220.206867912376;
      let d = 8.83883476483184e-2 * a + 1.75566716318264;
      d = d * a + 16.064177579207;
      d = d * a + 86.7807322029461;
      d = d * a + 296.564248779674;
      d = d * a + 637.333633378831;
      d = d * a + 793.826512519948;
      d = d * a + 440.413735824752;
      c = (e * n) / d;
    } else {
      let b = a + 0.65;
      b = a + 4 / b;
      b = a + 3 / b;
      b = a + 2 / b;
      b = a + 1 / b;
      c = e / b / 2.506628274631;
    }
  }
  return x > 0 ? 1 - c : c;
}

/** Two-sided p-value of a standard normal statistic: 2·(1 − Φ(|z|)), computed without cancellation. */
export function twoSidedP(z: number): number {
  return Math.min(1, 2 * normalCdf(-Math.abs(z)));
}

/**
 * Standard normal quantile Φ⁻¹(p): P. J. Acklam's rational approximation (relative error
 * 1.15e-9) refined by one Halley step against normalCdf, which brings it to machine precision.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return Number.NEGATIVE_INFINITY;
    if (p === 1) return Number.POSITIVE_INFINITY;
    return Number.NaN;
  }
  const a = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
    2.506628277459239,
  ] as const;
  const b = [
    -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1,
    -1.328068155288572e1,
  ] as const;
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ] as const;
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416] as const;
  const low = 0.02425;
  let x: number;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x =
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
      (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x =
      -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // One Halley step.
  const e = normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** ln Γ(x) for x > 0 (Lanczos approximation, g = 7, n = 9; ~15 significant digits). */
export function lnGamma(x: number): number {
  const g = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  const y = x - 1;
  let s = g[0] as number;
  for (let i = 1; i < 9; i++) s += (g[i] as number) / (y + i);
  const t = y + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(s);
}

/**
 * Regularized upper incomplete gamma Q(a, x) = Γ(a, x)/Γ(a): the series for x < a + 1, Lentz's
 * continued fraction otherwise (Numerical Recipes, 3rd ed., §6.2).
 */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lnPrefix = -x + a * Math.log(x) - lnGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return Math.max(0, 1 - sum * Math.exp(lnPrefix));
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.min(1, Math.exp(lnPrefix) * h);
}

/** Upper tail P(X ≥ x) of the chi-square distribution with `df` degrees of freedom. */
export function chiSquareSf(x: number, df: number): number {
  if (df <= 0) throw new Error("degrees of freedom must be positive");
  return gammaQ(df / 2, x / 2);
}

export interface Interval {
  readonly lower: number;
  readonly upper: number;
}

/** Wilson score interval for a binomial proportion (Wilson 1927; Newcombe 1998, method 3). */
export function wilsonInterval(successes: number, trials: number, confidence = 0.95): Interval {
  if (trials <= 0) return { lower: 0, upper: 1 };
  const z = normalQuantile(1 - (1 - confidence) / 2);
  const p = successes / trials;
  const z2 = z * z;
  const denominator = 1 + z2 / trials;
  const centre = p + z2 / (2 * trials);
  const half = z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  return {
    lower: Math.max(0, (centre - half) / denominator),
    upper: Math.min(1, (centre + half) / denominator),
  };
}

export interface TwoProportionTest {
  /** p₂ − p₁ (treatment minus control). */
  readonly difference: number;
  /** z statistic with the pooled standard error (the test R's prop.test(correct = FALSE) squares). */
  readonly z: number;
  /** Two-sided p-value. */
  readonly pValue: number;
  /** Wald interval of the difference with the unpooled standard error (as prop.test reports). */
  readonly differenceInterval: Interval;
}

/**
 * Two-sided two-proportion z-test of H₀: p₁ = p₂ with the pooled variance, without continuity
 * correction, plus the unpooled Wald interval of p₂ − p₁. `1` is the control, `2` the treatment.
 */
export function twoProportionZTest(
  conversions1: number,
  n1: number,
  conversions2: number,
  n2: number,
  confidence = 0.95,
): TwoProportionTest {
  const p1 = conversions1 / n1;
  const p2 = conversions2 / n2;
  const difference = p2 - p1;
  const pooled = (conversions1 + conversions2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  const z = se === 0 ? 0 : difference / se;
  const zc = normalQuantile(1 - (1 - confidence) / 2);
  const seDiff = Math.sqrt((p1 * (1 - p1)) / n1 + (p2 * (1 - p2)) / n2);
  return {
    difference,
    z,
    pValue: se === 0 ? 1 : twoSidedP(z),
    differenceInterval: {
      lower: Math.max(-1, difference - zc * seDiff),
      upper: Math.min(1, difference + zc * seDiff),
    },
  };
}

/**
 * Holm's step-down adjusted p-values (Holm 1979; what R's p.adjust(method = "holm") returns):
 * sorted ascending, the i-th (0-based) of m is max over j ≤ i of min(1, (m − j)·p₍ⱼ₎).
 * Returned in the input's order.
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((x, y) => x.p - y.p);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}

export interface GoodnessOfFit {
  readonly chiSquare: number;
  readonly degreesOfFreedom: number;
  readonly pValue: number;
}

/**
 * Pearson's chi-square goodness of fit of observed counts to expected shares (weights, any scale;
 * categories with zero weight must have zero observations and are left out).
 */
export function chiSquareGoodnessOfFit(
  observed: readonly number[],
  weights: readonly number[],
): GoodnessOfFit {
  if (observed.length !== weights.length) throw new Error("observed and weights differ in length");
  const total = observed.reduce((s, x) => s + x, 0);
  const weightSum = weights.reduce((s, w) => s + w, 0);
  let chiSquare = 0;
  let categories = 0;
  for (let i = 0; i < observed.length; i++) {
    const w = weights[i] as number;
    const o = observed[i] as number;
    if (w <= 0) {
      if (o > 0) return { chiSquare: Number.POSITIVE_INFINITY, degreesOfFreedom: 1, pValue: 0 };
      continue;
    }
    const expected = (total * w) / weightSum;
    chiSquare += ((o - expected) * (o - expected)) / expected;
    categories++;
  }
  const degreesOfFreedom = Math.max(1, categories - 1);
  return {
    chiSquare,
    degreesOfFreedom,
    pValue: total === 0 || categories < 2 ? 1 : chiSquareSf(chiSquare, degreesOfFreedom),
  };
}

/**
 * Sample size per group for a two-sided two-proportion test of p₁ against p₂ (equal groups):
 * n = (z₁₋α/₂·√(2·p̄·q̄) + z_power·√(p₁q₁ + p₂q₂))² / (p₁ − p₂)², the formula R's
 * power.prop.test solves (Fleiss, Statistical Methods for Rates and Proportions). Not rounded.
 */
export function sampleSizePerGroup(p1: number, p2: number, alpha = 0.05, power = 0.8): number {
  if (p1 === p2) return Number.POSITIVE_INFINITY;
  const za = normalQuantile(1 - alpha / 2);
  const zb = normalQuantile(power);
  const pBar = (p1 + p2) / 2;
  const root = za * Math.sqrt(2 * pBar * (1 - pBar)) + zb * Math.sqrt(p1 * (1 - p1) + p2 * (1 - p2));
  return (root * root) / ((p1 - p2) * (p1 - p2));
}
