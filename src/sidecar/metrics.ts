// Sidecar metrics on the sidecar's own prom-client Registry (never the global one, so an
// application embedding the sidecar keeps its registry clean).
//
// Evaluation counting is on the request hot path, where prom-client's labelled inc() would hash
// the label set on every call. Evaluation results are shared objects (one per flag and outcome),
// so we count per result object and fold the counts into the counter when Prometheus scrapes.

import type { Logger } from "pino";
import { type EvaluationDetails, onRuleBudgetExceeded } from "../core/evaluate.js";
import type { DocumentStore, FailureKind } from "../source/store.js";
import { Counter, Gauge, Histogram, Registry } from "../telemetry/prom.js";
import type { OverBudgetLane } from "./over-budget-lane.js";
import { registerProcessMetrics } from "./process-metrics.js";

/** Gauges of the served document (its revision, age, load time, size), read at scrape time. */
function registerDocumentGauges(registry: Registry, store: DocumentStore): void {
  const info = new Gauge({
    name: "flagwright_sidecar_document_info",
    help: "The document being served (value 1), labelled with its revision and namespace.",
    labelNames: ["revision", "namespace"],
    registers: [registry],
    collect() {
      info.reset();
      const c = store.current;
      if (c) info.set({ revision: c.document.revision, namespace: c.document.namespace }, 1);
    },
  });
  const age = new Gauge({
    name: "flagwright_sidecar_document_age_seconds",
    help: "Seconds since the served document was generated (generatedAt), or since it was loaded.",
    registers: [registry],
    collect() {
      const c = store.current;
      if (!c) return;
      const generated = c.document.generatedAt ? Date.parse(c.document.generatedAt) : Number.NaN;
      age.set((Date.now() - (Number.isNaN(generated) ? c.loadedAt : generated)) / 1000);
    },
  });
  const loadedAt = new Gauge({
    name: "flagwright_sidecar_document_loaded_timestamp_seconds",
    help: "Unix time when the served document was loaded.",
    registers: [registry],
    collect() {
      const c = store.current;
      if (c) loadedAt.set(c.loadedAt / 1000);
    },
  });
  const flags = new Gauge({
    name: "flagwright_sidecar_document_flags",
    help: "Number of flags in the served document.",
    registers: [registry],
    collect() {
      const c = store.current;
      if (c) flags.set(c.compiled.flags.size);
    },
  });
}

// Shared label objects: no allocation per request.
const ROUTE_LABELS = { single: { route: "single" }, bulk: { route: "bulk" } } as const;

interface Pending {
  readonly flag: string;
  n: number;
}

export class SidecarMetrics {
  readonly registry = new Registry();
  readonly #pending = new Map<EvaluationDetails, Pending>();
  #unknownFlags = 0;
  readonly #evaluations: Counter<"flag" | "variant" | "reason">;
  readonly #unknown: Counter;
  readonly #reloads: Counter<"source">;
  readonly #failures: Counter<"source" | "kind">;
  readonly #latency: Histogram<"route">;

  constructor(store: DocumentStore, source: string, opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics ?? true) registerProcessMetrics(this.registry);
    const flush = () => this.flush();
    this.#evaluations = new Counter({
      name: "flagwright_sidecar_evaluations_total",
      help: "Flag evaluations served, by flag, variant and OpenFeature reason.",
      labelNames: ["flag", "variant", "reason"],
      registers,
      collect: flush,
    });
    this.#unknown = new Counter({
      name: "flagwright_sidecar_unknown_flag_evaluations_total",
      help: "Evaluations of flag keys absent from the document (not labelled by key, to bound cardinality).",
      registers,
      collect: flush,
    });
    this.#reloads = new Counter({
      name: "flagwright_sidecar_reloads_total",
      help: "Documents loaded and now serving.",
      labelNames: ["source"],
      registers,
    });
    this.#failures = new Counter({
      name: "flagwright_sidecar_reload_failures_total",
      help: "New documents rejected (kind=parse) or unreadable (kind=read); the last good document keeps serving.",
      labelNames: ["source", "kind"],
      registers,
    });
    this.#reloads.inc({ source }, 0);
    for (const kind of ["read", "parse"] satisfies FailureKind[]) this.#failures.inc({ source, kind }, 0);
    registerDocumentGauges(this.registry, store);
    this.#latency = new Histogram({
      name: "flagwright_sidecar_request_duration_seconds",
      help: "Time from an OFREP evaluation request's arrival to its answer, by route (single flag, bulk).",
      labelNames: ["route"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1],
      registers,
    });
    store.listen({
      loaded: () => this.#reloads.inc({ source }),
      failed: (kind) => this.#failures.inc({ source, kind }),
    });
  }

  /** Records how long an OFREP evaluation request took, from its arrival (performance.now()). */
  answered(route: "single" | "bulk", startedMs: number): void {
    this.#latency.observe(ROUTE_LABELS[route], (performance.now() - startedMs) / 1000);
  }

  /** Exports the event streams' state (read at scrape time, nothing on the event path). */
  observeEventStreams(hub: {
    readonly openStreams: number;
    readonly eventsSent: number;
    readonly streamsRejected: number;
  }): void {
    const registers = [this.registry];
    const open: Gauge = new Gauge({
      name: "flagwright_sidecar_event_streams",
      help: "OFREP event streams (SSE) open now.",
      registers,
      collect: () => {
        open.set(hub.openStreams);
      },
    });
    const sent = new Counter({
      name: "flagwright_sidecar_stream_events_total",
      help: "refetchEvaluation events written to event streams (one per stream per change).",
      registers,
      collect: () => {
        sent.reset();
        sent.inc(hub.eventsSent);
      },
    });
    const rejected = new Counter({
      name: "flagwright_sidecar_event_streams_rejected_total",
      help: "Event stream connections refused with 503 (over the cap, or shutting down).",
      registers,
      collect: () => {
        rejected.reset();
        rejected.inc(hub.streamsRejected);
      },
    });
  }

  /**
   * Counts rule evaluations stopped by the run-time budget (the rule did not match) and logs them,
   * once per flag and minute with the number left unlogged, since a flood of hostile contexts
   * would otherwise flood the log too. Returns the removal of the listener.
   */
  observeRuleBudget(log: Pick<Logger, "warn">, logIntervalMs = 60_000): () => void {
    const exceeded = new Counter({
      name: "flagwright_sidecar_rule_budget_exceeded_total",
      help: "Rule evaluations stopped by the evaluation budget (comprehension steps, matches input, time) and answered as no match.",
      labelNames: ["flag", "reason"],
      registers: [this.registry],
    });
    const lastLogged = new Map<string, { at: number; unlogged: number }>();
    return onRuleBudgetExceeded((flag, reason) => {
      exceeded.inc({ flag, reason });
      const now = Date.now();
      const last = lastLogged.get(flag);
      if (last !== undefined && now - last.at < logIntervalMs) {
        last.unlogged++;
        return;
      }
      log.warn(
        { reason: "RuleBudgetExceeded", flag, budget: reason, unlogged: last?.unlogged ?? 0 },
        "a rule ran out of its evaluation budget and was answered as no match",
      );
      lastLogged.set(flag, { at: now, unlogged: 0 });
    });
  }

  /** Exports what the over-budget lane queued and refused (read at scrape time). */
  observeOverBudgetLane(lane: OverBudgetLane): void {
    const registers = [this.registry];
    const requests: Counter<"flag" | "outcome"> = new Counter({
      name: "flagwright_sidecar_over_budget_requests_total",
      help: "Single-flag requests for a flag whose rules recently ran out of evaluation budget: queued (evaluated one per event-loop turn, after other flags' requests) or refused (429 before the body was read: too many of that flag's already waiting).",
      labelNames: ["flag", "outcome"],
      registers,
      collect: () => {
        requests.reset();
        for (const [flag, counts] of lane.counts()) {
          requests.inc({ flag, outcome: "queued" }, counts.queued);
          requests.inc({ flag, outcome: "refused" }, counts.refused);
        }
      },
    });
    const waiting: Gauge = new Gauge({
      name: "flagwright_sidecar_over_budget_requests_waiting",
      help: "Single-flag requests for over-budget flags admitted and not yet answered.",
      registers,
      collect: () => {
        waiting.set(lane.waiting);
      },
    });
  }

  /** Counts one evaluation; allocation-free after the first time a result is seen. */
  count(flag: string, result: EvaluationDetails): void {
    if (result.errorCode === "FLAG_NOT_FOUND") {
      this.#unknownFlags++;
      return;
    }
    const p = this.#pending.get(result);
    if (p !== undefined) p.n++;
    else this.#pending.set(result, { flag, n: 1 });
  }

  flush(): void {
    for (const [result, p] of this.#pending) {
      this.#evaluations.inc({ flag: p.flag, variant: result.variant ?? "", reason: result.reason }, p.n);
    }
    this.#pending.clear();
    if (this.#unknownFlags > 0) this.#unknown.inc(this.#unknownFlags);
    this.#unknownFlags = 0;
  }
}
