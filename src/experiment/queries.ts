// The PromQL of an experiment's counts: one variant's exposures or conversions (the sidecars'
// counters, or the application's own when spec.experiment.metrics names them), and the windowed
// looks the experiment loop takes at them. Shared by the operator and the dashboard's charts.
import { type FeatureFlag, flagKey } from "../api/index.js";

const label = (v: string) => `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;

/** The series selector of one variant's exposures or conversions (the application's own counters when named). */
export function counterSelector(
  flag: FeatureFlag,
  kind: "exposures" | "conversions",
  variant: string,
): string {
  const experiment = flag.spec.experiment;
  const custom = experiment?.metrics?.[kind];
  const key = label(flagKey(flag));
  const v = label(variant);
  if (custom) return `${custom}{flag=${key},variant=${v}}`;
  const ns = label(flag.metadata.namespace ?? "");
  return kind === "exposures"
    ? `flagwright_exposures_total{namespace=${ns},flag=${key},variant=${v}}`
    : `flagwright_conversions_total{namespace=${ns},flag=${key},variant=${v},event=${label(experiment?.conversionEvent ?? "")}}`;
}

/** The PromQL for one variant's exposures or conversions summed over the series live now (charts). */
export function countQuery(flag: FeatureFlag, kind: "exposures" | "conversions", variant: string): string {
  return `sum(${counterSelector(flag, kind, variant)})`;
}

/** A look at every series of a counter since shortly before the previous look, at its last value. */
export const lastValuesQuery = (selector: string, windowSeconds: number) =>
  `last_over_time(${selector}[${windowSeconds}s])`;
/** Counter resets per series since the previous look. */
export const resetsQuery = (selector: string, windowMs: number) => `resets(${selector}[${windowMs}ms])`;
/** The highest value per series since the previous look (for series that reset: the old process's last count). */
export const peaksQuery = (selector: string, windowMs: number) => `max_over_time(${selector}[${windowMs}ms])`;
