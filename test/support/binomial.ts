// Seeded binomial draws for the statistical simulations: inversion of the CDF (Devroye, "Non-Uniform
// Random Variate Generation", §X.4), in chunks of at most 200 expected successes so (1 − p)ⁿ never
// underflows: exact, and ~np steps per draw instead of n uniforms. With `normalAbove`, draws whose
// variance np(1 − p) exceeds it use the normal approximation (Box–Muller, rounded), for the
// high-traffic simulations where inversion would cost thousands of steps per draw.
export function binomialSampler(
  random: () => number,
  options: { normalAbove?: number } = {},
): (n: number, p: number) => number {
  const normalAbove = options.normalAbove ?? Number.POSITIVE_INFINITY;
  const inversion = (n: number, p: number): number => {
    const ratio = p / (1 - p);
    let pmf = (1 - p) ** n;
    let cdf = pmf;
    const u = random();
    let k = 0;
    while (u > cdf && k < n) {
      pmf *= (ratio * (n - k)) / (k + 1);
      cdf += pmf;
      k++;
    }
    return k;
  };
  return (n, p) => {
    if (n <= 0 || p <= 0) return 0;
    if (p >= 1) return n;
    const variance = n * p * (1 - p);
    if (variance > normalAbove) {
      const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      return Math.min(n, Math.max(0, Math.round(n * p + z * Math.sqrt(variance))));
    }
    const chunk = Math.max(1, Math.floor(200 / p));
    let k = 0;
    for (let left = n; left > 0; left -= chunk) k += inversion(Math.min(chunk, left), p);
    return k;
  };
}
