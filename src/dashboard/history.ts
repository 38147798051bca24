// Experiments over time: per-variant exposures and conversions from Prometheus range queries (the
// experiment's own queries, countQuery in src/experiment/queries.ts), turned into each variant's conversion rate at each instant.
// Only when the user's machine reaches a Prometheus (--prometheus-url); the analysis in status
// stays the authority for the verdict.
import type { FeatureFlag } from "../api/index.js";
import { countQuery } from "../experiment/queries.js";

/** [unix seconds, value] pairs of one range-query series. */
export type Samples = [number, number][];

export interface VariantHistory {
  name: string;
  exposures: (number | null)[];
  conversions: (number | null)[];
  /** conversions / exposures (capped at 1), null where either is missing or exposures are 0. */
  rates: (number | null)[];
}

export interface ExperimentHistory {
  /** Unix seconds, ascending. */
  times: number[];
  /** The window asked for (unix seconds), so a chart shows it whole even where data are sparse. */
  start?: number;
  end?: number;
  variants: VariantHistory[];
}

/** Aligns the variants' series on the union of their timestamps and computes the rates. */
export function historySeries(
  series: readonly { name: string; exposures: Samples; conversions: Samples }[],
): ExperimentHistory {
  const times = [...new Set(series.flatMap((s) => [...s.exposures, ...s.conversions].map(([t]) => t)))].sort(
    (a, b) => a - b,
  );
  const at = (samples: Samples) => {
    const byTime = new Map(samples);
    return times.map((t) => byTime.get(t) ?? null);
  };
  return {
    times,
    variants: series.map((s) => {
      const exposures = at(s.exposures);
      const conversions = at(s.conversions);
      const rates = exposures.map((e, i) => {
        const c = conversions[i];
        return e === null || c === null || c === undefined || e <= 0 ? null : Math.min(1, c / e);
      });
      return { name: s.name, exposures, conversions, rates };
    }),
  };
}

async function queryRange(
  prometheusUrl: string,
  promql: string,
  range: { start: number; end: number; step: number },
): Promise<Samples> {
  const params = new URLSearchParams({
    query: promql,
    start: String(range.start),
    end: String(range.end),
    step: String(range.step),
  });
  const res = await fetch(`${prometheusUrl.replace(/\/+$/, "")}/api/v1/query_range?${params}`, {
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json().catch(() => ({}))) as {
    status?: string;
    error?: string;
    data?: { result?: { values?: [number, string][] }[] };
  };
  if (!res.ok || body.status !== "success") {
    throw new Error(`Prometheus answered ${res.status}: ${body.error ?? "no data"} (query ${promql})`);
  }
  // sum(...) gives at most one series.
  return (body.data?.result?.[0]?.values ?? []).map(([t, v]) => [t, Number(v)] as [number, number]);
}

/** The last `rangeSeconds` of a flag's experiment, one point per `stepSeconds`. */
export async function experimentHistory(
  prometheusUrl: string,
  flag: FeatureFlag,
  { end, rangeSeconds, stepSeconds }: { end: Date; rangeSeconds: number; stepSeconds: number },
): Promise<ExperimentHistory> {
  const endSeconds = Math.floor(end.getTime() / 1000);
  const range = { start: endSeconds - rangeSeconds, end: endSeconds, step: stepSeconds };
  const series = await Promise.all(
    (flag.spec.variants ?? []).map(async (v) => ({
      name: v.name,
      exposures: await queryRange(prometheusUrl, countQuery(flag, "exposures", v.name), range),
      conversions: await queryRange(prometheusUrl, countQuery(flag, "conversions", v.name), range),
    })),
  );
  return { ...historySeries(series), start: range.start, end: range.end };
}
