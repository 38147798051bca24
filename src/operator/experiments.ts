// The experiment and hygiene loop, run by the leader every interval. For each flag with
// spec.experiment it counts exposures and conversions per variant, analyzes them (src/experiment,
// pure) and writes status.experiment, holding a Significant verdict with its winner for the rest
// of the spec generation. Counts are users from the event store's per-user aggregate when one is
// configured; otherwise Prometheus counters, followed through a ledger in status.experiment.ledger
// (./experiment-ledger.ts) so they never fall when pods are replaced or restarted. It also sets
// each flag's Stale condition (src/hygiene/stale.ts) and the flagwright_stale_flags gauge.
//
// Writes are server-side apply patches of the status subresource under their own field manager
// (flagwright-experiments) holding only status.experiment and the Stale condition, so the
// reconciler and this loop never take each other's fields. A flag that never was stale and runs
// no experiment gets no Stale condition at all; once written, the condition only changes value
// and is never removed: the reconciler's step machine copies existing conditions into its own
// apply, so a removed condition could linger as co-owned.
import type { CustomObjectsApi } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import { setCondition } from "../api/conditions.js";
import { type Condition, type FeatureFlag, flagKey } from "../api/index.js";
import { STATUS_WRITERS } from "../api/ownership.js";
import { sameCanonicalJson } from "../core/document.js";
import { analyzeExperiment, type ExperimentResult, type VariantCounts } from "../experiment/analysis.js";
import type { ExperimentEventReader } from "../experiment/event-store.js";
import { counterSelector, lastValuesQuery, peaksQuery, resetsQuery } from "../experiment/queries.js";
import { CONDITION_STALE, staleness } from "../hygiene/stale.js";
import type { PrometheusVectorApi } from "../rollout/prometheus.js";
import { confineToNamespace, PromqlConfinementError } from "../rollout/promql-namespace.js";
import {
  accumulateCounter,
  type CounterLedger,
  type ExperimentLedger,
  LedgerLimitError,
  latchVerdict,
  ledgerFrom,
  lookWindowSeconds,
  resetWindowMs,
  selectorKey,
  seriesId,
  type VariantLedger,
} from "./experiment-ledger.js";
import { applyStatus } from "./status.js";

export const DEFAULT_EXPERIMENT_INTERVAL_MS = 60_000;

export interface ExperimentLoopOptions {
  custom: CustomObjectsApi;
  /** Undefined when the operator has no Prometheus: experiments say so, stale detection still runs. */
  prometheus: PrometheusVectorApi | undefined;
  /** The cached flags, iterated once per pass without a copy. */
  listFlags(): Iterable<FeatureFlag>;
  log: Logger;
  registry: Registry;
  intervalMs?: number;
  now?: () => Date;
  /** Confine the counts (spec.experiment.metrics is flag-authored) to the flag's namespace; default true. */
  namespaceEnforcement?: boolean;
  /**
   * The experiment event store (operator flag --event-store-url-file): when set, counts are users
   * from its per-user aggregate, once across pods and restarts, instead of Prometheus counters.
   */
  eventStore?: ExperimentEventReader;
}

/** How status.experiment's counts were made, so a reader knows what they are valid for. */
export interface ExperimentCounting {
  source: "EventStore" | "Prometheus";
  /** Whether a user routed to several pods, or seen again after a restart, counts once. */
  usersCountedOnce: boolean;
  message: string;
}

export const COUNTING_EVENT_STORE: ExperimentCounting = {
  source: "EventStore",
  usersCountedOnce: true,
  message:
    "users counted once across pods and restarts, each in the arm of their first exposure (per-user aggregate of the event store)",
};

export const COUNTING_PROMETHEUS: ExperimentCounting = {
  source: "Prometheus",
  usersCountedOnce: false,
  message:
    "counts are per sidecar process: valid for an application with one pod only; a user routed to several pods, or seen again after a restart, counts once per process (configure an event store, operator flag --event-store-url-file)",
};

/** The ledger is written at least this often even when no count changed, so look windows stay short. */
const LEDGER_REFRESH_MS = 10 * 60_000;

type ExperimentStatus =
  | (ExperimentResult & { ledger?: ExperimentLedger; counting?: ExperimentCounting })
  | {
      verdict: "Collecting";
      message: string;
      error: string;
      analyzedAt: string;
      counting?: ExperimentCounting;
    };

export class ExperimentLoop {
  readonly #opts: ExperimentLoopOptions;
  readonly #stale: Gauge<"namespace">;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: ExperimentLoopOptions) {
    this.#opts = options;
    this.#stale = new Gauge({
      name: "flagwright_stale_flags",
      help: "Flags whose Stale condition is True (unchanged past spec.staleAfter, or past spec.expires), by namespace.",
      labelNames: ["namespace"],
      registers: [options.registry],
    });
  }

  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    const tick = () => {
      this.#running = this.runOnce()
        .catch((error: Error) =>
          this.#opts.log.warn(
            { reason: "ExperimentLoopFailed", err: error.message },
            "experiment loop failed",
          ),
        )
        .finally(() => {
          this.#running = undefined;
          if (!this.#stopped)
            this.#timer = setTimeout(tick, this.#opts.intervalMs ?? DEFAULT_EXPERIMENT_INTERVAL_MS);
        });
    };
    this.#timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#running;
  }

  /** One pass over every flag: stale conditions, the gauge, experiment results. */
  async runOnce(): Promise<void> {
    const now = (this.#opts.now ?? (() => new Date()))();
    const perNamespace = new Map<string, number>();
    for (const flag of this.#opts.listFlags()) {
      const namespace = flag.metadata.namespace ?? "";
      const s = staleness(flag, now);
      perNamespace.set(namespace, (perNamespace.get(namespace) ?? 0) + (s.stale ? 1 : 0));
      try {
        await this.#update(flag, now, s);
      } catch (error) {
        this.#opts.log.warn(
          {
            flag: flag.metadata.name,
            namespace,
            reason: "ExperimentStatusFailed",
            err: (error as Error).message,
          },
          "cannot update experiment status",
        );
      }
    }
    this.#stale.reset();
    for (const [namespace, n] of perNamespace) this.#stale.set({ namespace }, n);
  }

  async #experiment(flag: FeatureFlag, now: Date): Promise<ExperimentStatus | undefined> {
    const experiment = flag.spec.experiment;
    const variants = flag.spec.variants ?? [];
    if (experiment === undefined || variants.length < 2) return undefined;
    const previous = flag.status?.experiment as ExperimentStatus | undefined;
    const counting = this.#opts.eventStore !== undefined ? COUNTING_EVENT_STORE : COUNTING_PROMETHEUS;
    const round: Round = { flag, experiment, variants, previous, counting, now };
    if (this.#opts.eventStore !== undefined) return await this.#fromEventStore(round, this.#opts.eventStore);
    const prometheus = this.#opts.prometheus;
    if (prometheus === undefined)
      return unavailable(round, "no Prometheus configured (operator flag --prometheus-url)");
    return await this.#fromPrometheus(round, prometheus);
  }

  /** Users counted once across pods and restarts, from the event store's per-user aggregate. */
  async #fromEventStore(round: Round, store: ExperimentEventReader): Promise<ExperimentStatus> {
    const { flag, experiment, variants } = round;
    let arms: Awaited<ReturnType<ExperimentEventReader["userAggregate"]>>;
    try {
      arms = await store.userAggregate(
        flag.metadata.namespace ?? "",
        flagKey(flag),
        experiment.conversionEvent,
      );
    } catch (error) {
      // The store's own words go to the log only: status never echoes a remote answer.
      this.#opts.log.warn(
        {
          flag: flag.metadata.name,
          namespace: flag.metadata.namespace,
          reason: "EventStoreUnavailable",
          err: (error as Error).message,
        },
        "cannot read the experiment's per-user counts from the event store",
      );
      return unavailable(round, "the event store did not answer (see the operator's log)");
    }
    const counts: VariantCounts[] = variants.map((v) => {
      const arm = arms.find((a) => a.variant === v.name);
      return {
        name: v.name,
        weight: v.weight,
        exposures: arm?.users ?? 0,
        conversions: arm?.convertedUsers ?? 0,
      };
    });
    return { ...analyzeCounts(round, counts), counting: round.counting };
  }

  /** Prometheus counters, followed series by series through the ledger kept in status. */
  async #fromPrometheus(round: Round, prometheus: PrometheusVectorApi): Promise<ExperimentStatus> {
    const { flag, variants, now } = round;
    const namespace = flag.metadata.namespace ?? "";
    const confine = this.#opts.namespaceEnforcement !== false;
    const ask = (promql: string) =>
      prometheus.queryVector(confine ? confineToNamespace(promql, namespace) : promql, now);
    const before = ledgerFrom(round.previous);
    const follow = counterFollower(ask, before, now);
    let ledgers: VariantLedger[];
    try {
      ledgers = await Promise.all(
        variants.map(async (v): Promise<VariantLedger> => {
          const exposures = counterSelector(flag, "exposures", v.name);
          const conversions = counterSelector(flag, "conversions", v.name);
          const key = selectorKey(exposures, conversions);
          const kept = before?.variants.find((l) => l.name === v.name && l.key === key);
          const [e, c] = await Promise.all([
            follow(exposures, kept?.exposures),
            follow(conversions, kept?.conversions),
          ]);
          return { name: v.name, key, exposures: e, conversions: c };
        }),
      );
    } catch (error) {
      if (error instanceof PromqlConfinementError)
        return unavailable(round, `spec.experiment.metrics ${error.message}`);
      if (error instanceof LedgerLimitError)
        return unavailable(round, `spec.experiment.metrics: ${error.message}`);
      return unavailable(round, (error as Error).message);
    }
    const counts: VariantCounts[] = variants.map((v, i) => ({
      name: v.name,
      weight: v.weight,
      exposures: Math.round(ledgers[i]?.exposures.total ?? 0),
      conversions: Math.round(ledgers[i]?.conversions.total ?? 0),
    }));
    const ledger = { through: now.toISOString(), variants: ledgers };
    return { ...analyzeCounts(round, counts), ledger, counting: round.counting };
  }

  async #update(flag: FeatureFlag, now: Date, s: ReturnType<typeof staleness>): Promise<void> {
    const conditions = flag.status?.conditions ?? [];
    const stale = setCondition(
      conditions,
      {
        type: CONDITION_STALE,
        status: s.stale ? "True" : "False",
        reason: s.reason,
        message: s.message,
        observedGeneration: flag.metadata.generation,
      },
      now,
    ).find((c) => c.type === CONDITION_STALE) as Condition;
    const experiment = await this.#experiment(flag, now);

    // Skip the write when nothing but timestamps would change.
    const previousStale = conditions.find((c) => c.type === CONDITION_STALE);
    const strip = (e: unknown) => {
      if (e === undefined || e === null) return null;
      const {
        analyzedAt: _a,
        runningSeconds: _r,
        ledger,
        ...rest
      } = e as { analyzedAt?: string; runningSeconds?: number; ledger?: ExperimentLedger };
      // The ledger's times move at every look; only its counts and series values matter here.
      const values = ledger?.variants?.map((v) => ({
        ...v,
        exposures: { total: v.exposures?.total, series: v.exposures?.series?.map(([id, x]) => [id, x]) },
        conversions: {
          total: v.conversions?.total,
          series: v.conversions?.series?.map(([id, x]) => [id, x]),
        },
      }));
      return { ...rest, ledger: values ?? null };
    };
    const sameStale =
      previousStale !== undefined &&
      sameCanonicalJson(
        { ...previousStale, lastTransitionTime: null },
        { ...stale, lastTransitionTime: null },
      );
    const sameExperiment = sameCanonicalJson(strip(flag.status?.experiment), strip(experiment));
    const through = ledgerFrom(flag.status?.experiment)?.through;
    const ledgerFresh = through === undefined || now.getTime() - Date.parse(through) < LEDGER_REFRESH_MS;
    if (sameStale && sameExperiment && ledgerFresh) return;
    // A flag that never was stale and runs no experiment needs no write: at thousands of flags,
    // a Stale=False per flag would double the status writes (and reconciles) for nothing.
    if (previousStale === undefined && !s.stale && experiment === undefined) return;

    const status: Record<string, unknown> = { conditions: [stale] };
    if (experiment !== undefined) status.experiment = experiment;
    // Conditional on the copy the ledger was continued from: a write from an older copy (a
    // previous leader still finishing its look) fails instead of setting the counts back.
    const ifResourceVersion =
      experiment !== undefined && "ledger" in experiment ? flag.metadata.resourceVersion : undefined;
    await applyStatus(this.#opts.custom, flag, status, {
      fieldManager: STATUS_WRITERS.experiments.fieldManager,
      ...(ifResourceVersion !== undefined && { ifResourceVersion }),
    });
  }
}

/** One flag's experiment in one pass. */
interface Round {
  flag: FeatureFlag;
  experiment: NonNullable<FeatureFlag["spec"]["experiment"]>;
  variants: NonNullable<FeatureFlag["spec"]["variants"]>;
  previous: ExperimentStatus | undefined;
  counting: ExperimentCounting;
  now: Date;
}

/** Counts that cannot be read: the last result stands with the error, else Collecting. */
function unavailable(round: Round, error: string): ExperimentStatus {
  const { previous, counting, now } = round;
  if (previous !== undefined && "variants" in previous) return { ...previous, error, counting };
  return {
    verdict: "Collecting",
    message: `cannot read counts: ${error}`,
    error,
    analyzedAt: now.toISOString(),
    counting,
  };
}

/** The analysis of the counts, its verdict latched for the rest of the spec generation. */
function analyzeCounts(round: Round, counts: VariantCounts[]) {
  const { flag, experiment, previous, now } = round;
  const result = analyzeExperiment(
    {
      conversionEvent: experiment.conversionEvent,
      control: experiment.control,
      minSamplePerVariant: experiment.minSamplePerVariant,
      minDetectableEffect: experiment.minDetectableEffect,
      alpha: experiment.alpha,
      method: experiment.method,
    },
    counts,
    now,
    previous !== undefined && "variants" in previous ? previous : undefined,
  );
  return latchVerdict(
    result,
    (previous as { latch?: unknown } | undefined)?.latch,
    flag.metadata.generation ?? 0,
    now,
  );
}

/**
 * Follows one counter selector from its ledger entry: the last value of every series in the look
 * window, and, for a counter already followed, its resets and the peaks before them.
 */
function counterFollower(
  ask: (promql: string) => ReturnType<PrometheusVectorApi["queryVector"]>,
  before: ExperimentLedger | undefined,
  now: Date,
) {
  const windowSeconds = lookWindowSeconds(before, now);
  const resetMs = resetWindowMs(before, now);
  const nowSeconds = Math.floor(now.getTime() / 1000);
  return async (selector: string, previousCounter: CounterLedger | undefined) => {
    const [observed, resets] = await Promise.all([
      ask(lastValuesQuery(selector, windowSeconds)),
      // A counter seen for the first time is counted whole, so its resets do not matter.
      previousCounter !== undefined && resetMs !== undefined ? ask(resetsQuery(selector, resetMs)) : [],
    ]);
    const resetsById = new Map(resets.map((r) => [seriesId(r.labels), r.value]));
    const peaks =
      resetMs !== undefined && resets.some((r) => r.value > 0)
        ? await ask(peaksQuery(selector, resetMs))
        : [];
    const peaksById = new Map(peaks.map((p) => [seriesId(p.labels), p.value]));
    return accumulateCounter(previousCounter, observed, resetsById, nowSeconds, peaksById);
  };
}
