// Shared by every bench module and bench/run.ts: the structured result a module returns, and the
// summary statistics the report prints (median and spread over repeated runs, or percentiles of a
// latency distribution).

/**
 * One figure. `samples` holds one value per repeated run (stat "median": the report shows
 * median, min–max and n) or one value per timed event (stat "percentiles": p50, p99, max and n).
 * A computed figure (not measured) has one sample and says how it was derived in `note`.
 */
export interface Figure {
  name: string;
  unit: string;
  samples: number[];
  stat?: "median" | "percentiles";
  computed?: boolean;
  note?: string;
}

/** A ratio between two figures, e.g. sidecar requests/s ÷ flagd requests/s, one sample per round. */
export interface RatioRow {
  name: string;
  samples: number[];
  note?: string;
  /** The goal the median is held to; the report says met, missed or unsettled. */
  target?: RatioTarget;
}

/** A goal for a ratio's median: at least or at most the given value. */
export interface RatioTarget {
  atLeast?: number;
  atMost?: number;
}

/**
 * The widest a ratio's rounds may spread (largest ÷ smallest) for its median to be read as a
 * result: beyond it the rounds disagree more than the servers differ, and the run is unsettled.
 */
export const SETTLED_SPREAD = 2;

/** Largest ÷ smallest of a ratio's per-round samples (1 for a single round). */
export function ratioSpread(samples: readonly number[]): number {
  const s = summarize(samples);
  if (s.n === 0) return Number.NaN;
  return s.min > 0 ? s.max / s.min : Number.POSITIVE_INFINITY;
}

export type Verdict = "met" | "missed" | "unsettled";

/**
 * Whether a ratio meets its target: "unsettled" when its rounds spread wider than
 * SETTLED_SPREAD (whatever the median says), else "met" or "missed" by the median.
 */
export function verdict(samples: readonly number[], target: RatioTarget): Verdict {
  const spread = ratioSpread(samples);
  if (!(spread <= SETTLED_SPREAD)) return "unsettled";
  const { median } = summarize(samples);
  const met =
    (target.atLeast === undefined || median >= target.atLeast) &&
    (target.atMost === undefined || median <= target.atMost);
  return met ? "met" : "missed";
}

/** "target ≥ 1.5: met (rounds within 1.3×)", or why it is unsettled. */
export function formatVerdict(samples: readonly number[], target: RatioTarget): string {
  const goal = [
    target.atLeast !== undefined ? `≥ ${formatNumber(target.atLeast)}` : "",
    target.atMost !== undefined ? `≤ ${formatNumber(target.atMost)}` : "",
  ]
    .filter(Boolean)
    .join(" and ");
  const spread = ratioSpread(samples);
  const result = verdict(samples, target);
  const within = `${formatNumber(spread)}×`;
  return result === "unsettled"
    ? `target ${goal}: unsettled (rounds spread ${within}, wider than ${SETTLED_SPREAD}×)`
    : `target ${goal}: ${result} (rounds within ${within})`;
}

export interface BenchResult {
  figures: Figure[];
  ratios?: RatioRow[];
  /** Free-text lines printed under the tables (assumptions, what limits the figures). */
  notes?: string[];
}

export interface BenchModule {
  name: string;
  description?: string;
  /** Legacy modules return flat `{label: value}` rows; new ones return a BenchResult. */
  run(opts: { smoke: boolean }): Promise<BenchResult | Record<string, unknown>>;
}

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  p25: number;
  p75: number;
  p99: number;
  mean: number;
}

/** Linear interpolation between closest ranks of an ascending array (the "R-7" definition). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.ceil(position);
  const low = sorted[below] as number;
  const high = sorted[above] as number;
  return low + (high - low) * (position - below);
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  return {
    n,
    median: quantile(sorted, 0.5),
    min: sorted[0] ?? Number.NaN,
    max: sorted[n - 1] ?? Number.NaN,
    p25: quantile(sorted, 0.25),
    p75: quantile(sorted, 0.75),
    p99: quantile(sorted, 0.99),
    mean: n === 0 ? Number.NaN : sorted.reduce((sum, x) => sum + x, 0) / n,
  };
}

/** Three significant digits for small values, whole numbers with separators for large ones. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  const digits = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : 3;
  return value.toLocaleString("en-US", { maximumFractionDigits: digits });
}

/** "median (min–max, n=5)", or just the value for a single sample. */
export function formatSpread(samples: readonly number[]): string {
  const s = summarize(samples);
  if (s.n === 1) return formatNumber(s.median);
  return `${formatNumber(s.median)} (${formatNumber(s.min)}–${formatNumber(s.max)}, n=${s.n})`;
}

/** "p50 12.3, p99 45.6, max 78.9 (n=30)" for a latency distribution. */
export function formatPercentiles(samples: readonly number[]): string {
  const s = summarize(samples);
  return `p50 ${formatNumber(s.median)}, p99 ${formatNumber(s.p99)}, max ${formatNumber(s.max)} (n=${s.n})`;
}

export function formatFigure(figure: Figure): string {
  return figure.stat === "percentiles" ? formatPercentiles(figure.samples) : formatSpread(figure.samples);
}

/** Paired per-round ratios a[i] / b[i] (rounds run back to back share the machine's state). */
export function pairedRatios(a: readonly number[], b: readonly number[]): number[] {
  return a.slice(0, Math.min(a.length, b.length)).map((x, i) => x / (b[i] as number));
}

/** Run `work` `runs` times in sequence and collect its results. */
export async function repeat<T>(runs: number, work: (run: number) => Promise<T> | T): Promise<T[]> {
  const results: T[] = [];
  for (let run = 0; run < runs; run++) results.push(await work(run));
  return results;
}
