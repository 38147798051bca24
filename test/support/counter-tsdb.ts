// A model of Prometheus for counters, for tests of the experiment loop without a real one: scraped
// samples per series, staleness markers when a target goes away, and just the queries the loop
// sends (sum of a selector; last_over_time, max_over_time and resets over a range), with Prometheus' semantics
// for them (left-open ranges that skip staleness markers, a 5 minute lookback for instant
// selectors). The integration tests check the same behaviour against the real Prometheus.
import type { PrometheusVectorApi, QueryValue, VectorSample } from "../../src/rollout/prometheus.js";

const LOOKBACK_MS = 5 * 60_000;
/** Prometheus writes this NaN as the staleness marker; here any NaN stands for it. */
const STALE = Number.NaN;

interface Series {
  labels: Record<string, string>;
  /** [unix ms, value], ascending by time. */
  samples: [number, number][];
}

const keyOf = (labels: Record<string, string>) =>
  JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));

function parseSelector(text: string): { name: string; matchers: Record<string, string> } {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}$/.exec(text);
  if (!m) throw new Error(`counter-tsdb: unsupported selector ${text}`);
  const matchers: Record<string, string> = {};
  for (const pair of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    matchers[pair[1] as string] = JSON.parse(`"${pair[2]}"`) as string;
  }
  return { name: m[1] as string, matchers };
}

export class CounterTsdb {
  readonly #series = new Map<string, Series>();
  queries = 0;

  /** A scraped sample of the counter `labels` (with __name__) at `atMs`. */
  append(labels: Record<string, string>, atMs: number, value: number): void {
    const key = keyOf(labels);
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels, samples: [] };
      this.#series.set(key, series);
    }
    series.samples.push([atMs, value]);
  }

  /** The target behind `labels` stopped answering: Prometheus writes a staleness marker. */
  markStale(labels: Record<string, string>, atMs: number): void {
    const series = this.#series.get(keyOf(labels));
    if (series !== undefined && !Number.isNaN(series.samples.at(-1)?.[1])) series.samples.push([atMs, STALE]);
  }

  #select(selector: string): Series[] {
    const { name, matchers } = parseSelector(selector);
    return [...this.#series.values()].filter(
      (s) =>
        s.labels.__name__ === name && Object.entries(matchers).every(([k, v]) => (s.labels[k] ?? "") === v),
    );
  }

  /** Index of the first sample later than `t` (samples are ascending by time). */
  static #after(series: Series, t: number): number {
    let lo = 0;
    let hi = series.samples.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((series.samples[mid]?.[0] as number) <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Samples in (at − range, at], staleness markers skipped, as Prometheus' range selectors. */
  static #range(series: Series, atMs: number, rangeMs: number): [number, number][] {
    const from = CounterTsdb.#after(series, atMs - rangeMs);
    const to = CounterTsdb.#after(series, atMs);
    return series.samples.slice(from, to).filter(([, v]) => !Number.isNaN(v));
  }

  static #withoutName(labels: Record<string, string>): Record<string, string> {
    const { __name__: _n, ...rest } = labels;
    return rest;
  }

  vector(promql: string, atMs: number): VectorSample[] {
    this.queries++;
    const range = /^(last_over_time|max_over_time|resets)\((.*)\[(\d+)(s|ms)\]\)$/.exec(promql);
    if (range) {
      const [, fn, selector, amount, unit] = range;
      const rangeMs = Number(amount) * (unit === "s" ? 1000 : 1);
      const out: VectorSample[] = [];
      for (const series of this.#select(selector as string)) {
        const samples = CounterTsdb.#range(series, atMs, rangeMs);
        if (samples.length === 0) continue;
        const value =
          fn === "last_over_time"
            ? (samples.at(-1)?.[1] as number)
            : fn === "max_over_time"
              ? Math.max(...samples.map(([, v]) => v))
              : samples.filter(([, v], i) => i > 0 && v < (samples[i - 1]?.[1] as number)).length;
        out.push({ labels: CounterTsdb.#withoutName(series.labels), value });
      }
      return out;
    }
    throw new Error(`counter-tsdb: unsupported query ${promql}`);
  }

  /** sum(selector) at an instant: the latest sample within the lookback, unless it is a staleness marker. */
  sum(promql: string, atMs: number): QueryValue {
    this.queries++;
    const m = /^sum\((.*)\)$/.exec(promql);
    if (!m) throw new Error(`counter-tsdb: unsupported query ${promql}`);
    let total = 0;
    let live = 0;
    for (const series of this.#select(m[1] as string)) {
      const last = series.samples[CounterTsdb.#after(series, atMs) - 1];
      if (last === undefined || last[0] <= atMs - LOOKBACK_MS || Number.isNaN(last[1])) continue;
      total += last[1];
      live++;
    }
    return live === 0 ? { kind: "empty" } : { kind: "value", value: total, series: 1 };
  }

  api(): PrometheusVectorApi {
    return {
      address: "http://counter-tsdb",
      alerts: async () => [],
      query: async (promql, at) => this.sum(promql, (at ?? new Date()).getTime()),
      queryVector: async (promql, at) => this.vector(promql, (at ?? new Date()).getTime()),
    };
  }
}
