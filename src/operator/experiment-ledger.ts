// Experiment counts that never fall when the application's pods come and go, and verdicts that
// stay decided. Pure: the experiment loop supplies what Prometheus answered and the time.
//
// Prometheus sums only the series that are live now, so a deploy (new pods, new series starting
// at 0) or a restart (a counter reset) makes `sum(counter)` drop. The ledger instead follows every
// series of a counter by its labels: a series seen before adds what it grew since, a new one adds
// all it counted (a process's counter starts at 0, so nothing before its first scrape is lost), a
// reset one adds what it counted since the reset, and a series that disappears keeps what it had
// added. The total only grows. Series that disappeared are remembered for a while, so one that
// comes back (a scrape outage) is not counted twice. The ledger lives in status.experiment, so a
// restarted operator or a new leader continues it.
import { createHash } from "node:crypto";
import { canonicalJson } from "../core/document.js";
import type { ExperimentResult } from "../experiment/analysis.js";

/** How long a series that stopped reporting is remembered (a scrape outage shorter than this counts once). */
export const FORGET_SERIES_AFTER_SECONDS = 6 * 3600;
/** Series one counter may follow at once (per variant, exposures or conversions): bounds status. */
export const MAX_SERIES_PER_COUNTER = 500;
/** How far back a look reads before the previous one, so late scrapes and short outages are seen. */
export const LOOKBACK_SECONDS = 300;
/** The longest window a look reads (after a long operator outage): bounds a query's cost. */
export const MAX_WINDOW_SECONDS = 24 * 3600;

/** One series followed: [id, last value seen, when last seen (unix seconds)]. */
export type SeriesEntry = [id: string, value: number, seenAt: number];

export interface CounterLedger {
  /** Everything counted so far; never decreases. */
  total: number;
  series: SeriesEntry[];
}

export interface VariantLedger {
  name: string;
  /** Hash of the variant's two counter selectors: a changed query starts the variant's ledger afresh. */
  key: string;
  exposures: CounterLedger;
  conversions: CounterLedger;
}

export interface ExperimentLedger {
  /** The time of the look the ledger is complete through. */
  through: string;
  variants: VariantLedger[];
}

/** The Significant verdict held for a spec generation. */
export interface VerdictLatch {
  generation: number;
  winner: string;
  message: string;
  at: string;
}

export class LedgerLimitError extends Error {
  override name = "LedgerLimitError";
}

const shortHash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16);

/** A series' identity: its label set (the metric name is gone after last_over_time and resets). */
export function seriesId(labels: Record<string, string>): string {
  return shortHash(canonicalJson(labels));
}

export function selectorKey(exposures: string, conversions: string): string {
  return shortHash(`${exposures}\n${conversions}`);
}

/**
 * The ledger after one look. `observed` is every series with a sample since shortly before the
 * previous look, at its last value; `resets` the number of counter resets per series id since the
 * previous look (Prometheus' resets()), which catches a restart whose new counter already passed
 * the old value; `peaks` the highest value since the previous look of the series that reset
 * (max_over_time), which recovers what the old process counted after the previous look.
 */
export function accumulateCounter(
  previous: CounterLedger | undefined,
  observed: readonly { labels: Record<string, string>; value: number }[],
  resets: ReadonlyMap<string, number>,
  nowSeconds: number,
  peaks: ReadonlyMap<string, number> = new Map(),
): CounterLedger {
  const known = new Map((previous?.series ?? []).map(([id, value, seenAt]) => [id, { value, seenAt }]));
  let total = previous?.total ?? 0;
  const live = new Map<string, { value: number; seenAt: number }>();
  for (const sample of observed) {
    if (!Number.isFinite(sample.value) || sample.value < 0) continue;
    const id = seriesId(sample.labels);
    if (live.has(id)) continue;
    const before = known.get(id);
    if (before === undefined) total += sample.value;
    else if (sample.value < before.value || (resets.get(id) ?? 0) > 0) {
      // A peak above the current value is the old process's last count (the new one only rose to
      // the current value); one at or below it is the new process's, and the old one's last
      // increments are unknown: counted as none, never twice.
      const peak = peaks.get(id);
      const oldProcess = peak !== undefined && peak > sample.value ? Math.max(0, peak - before.value) : 0;
      total += sample.value + oldProcess;
    } else total += sample.value - before.value;
    live.set(id, { value: sample.value, seenAt: nowSeconds });
  }
  if (live.size > MAX_SERIES_PER_COUNTER) {
    throw new LedgerLimitError(
      `${live.size} series, more than the ${MAX_SERIES_PER_COUNTER} one counter may have; aggregate it (for example by pod only)`,
    );
  }
  const gone = [...known]
    .filter(([id, b]) => !live.has(id) && nowSeconds - b.seenAt < FORGET_SERIES_AFTER_SECONDS)
    .sort((a, b) => b[1].seenAt - a[1].seenAt)
    .slice(0, MAX_SERIES_PER_COUNTER - live.size);
  const series: SeriesEntry[] = [...live, ...gone].map(([id, b]) => [id, b.value, b.seenAt]);
  return { total: Math.round(total * 1e6) / 1e6, series };
}

const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

function counterFrom(value: unknown): CounterLedger | undefined {
  const c = value as CounterLedger | undefined;
  if (typeof c !== "object" || c === null || !isNumber(c.total) || c.total < 0 || !Array.isArray(c.series))
    return undefined;
  const series = c.series.filter(
    (e): e is SeriesEntry =>
      Array.isArray(e) && e.length === 3 && typeof e[0] === "string" && isNumber(e[1]) && isNumber(e[2]),
  );
  return { total: c.total, series: series.slice(0, MAX_SERIES_PER_COUNTER) };
}

/** The ledger stored in a previous status.experiment, or undefined when there is none usable. */
export function ledgerFrom(experiment: unknown): ExperimentLedger | undefined {
  const ledger = (experiment as { ledger?: ExperimentLedger } | undefined)?.ledger;
  if (typeof ledger !== "object" || ledger === null || typeof ledger.through !== "string") return undefined;
  if (!Number.isFinite(Date.parse(ledger.through)) || !Array.isArray(ledger.variants)) return undefined;
  const variants: VariantLedger[] = [];
  for (const v of ledger.variants) {
    const exposures = counterFrom(v?.exposures);
    const conversions = counterFrom(v?.conversions);
    if (typeof v?.name !== "string" || typeof v.key !== "string" || !exposures || !conversions) continue;
    variants.push({ name: v.name, key: v.key, exposures, conversions });
  }
  return { through: ledger.through, variants };
}

/** Seconds of history the next look reads: back to shortly before the previous look. */
export function lookWindowSeconds(previous: ExperimentLedger | undefined, now: Date): number {
  if (previous === undefined) return LOOKBACK_SECONDS;
  const since = Math.max(0, (now.getTime() - Date.parse(previous.through)) / 1000);
  return Math.min(MAX_WINDOW_SECONDS, Math.ceil(since) + LOOKBACK_SECONDS);
}

/** Milliseconds since the previous look, for resets(); undefined on the first look or when no time passed. */
export function resetWindowMs(previous: ExperimentLedger | undefined, now: Date): number | undefined {
  if (previous === undefined) return undefined;
  const ms = Math.min(MAX_WINDOW_SECONDS * 1000, now.getTime() - Date.parse(previous.through));
  return ms >= 1 ? Math.floor(ms) : undefined;
}

/**
 * Holds a Significant verdict and its winner for the rest of the spec generation: later looks
 * update the counts and statistics but do not take the decision back (to Collecting when counts
 * dip, or to another winner when rates wander). A new generation decides afresh.
 */
export function latchVerdict(
  result: ExperimentResult,
  previousLatch: unknown,
  generation: number,
  now: Date,
): ExperimentResult & { latch?: VerdictLatch } {
  const held = previousLatch as VerdictLatch | undefined;
  if (
    typeof held === "object" &&
    held !== null &&
    held.generation === generation &&
    typeof held.winner === "string" &&
    result.variants.some((v) => v.name === held.winner) &&
    typeof held.message === "string" &&
    typeof held.at === "string"
  ) {
    const latched: ExperimentResult & { latch: VerdictLatch } = {
      ...result,
      verdict: "Significant",
      winner: held.winner,
      message: `${held.message} (decided ${held.at}; held until the spec changes)`,
      latch: held,
    };
    if (result.verdict !== "Significant" || result.winner !== held.winner) {
      const reading = result.winner ? `${result.verdict}, ${result.winner}` : result.verdict;
      latched.warnings = [...(result.warnings ?? []), `the latest look alone reads ${reading}`];
    }
    return latched;
  }
  if (result.verdict === "Significant" && result.winner !== undefined) {
    return {
      ...result,
      latch: { generation, winner: result.winner, message: result.message, at: now.toISOString() },
    };
  }
  return result;
}
