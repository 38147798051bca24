// The analysis loop the operator runs while it leads: every tick it checks the flags whose analysis
// is due (analysisDue: ramping, and a check during the step is missing or the interval has passed),
// hands each outcome to `persist` (the operator records it in status.analysisOutcome, where the
// planner reads it and a new leader resumes from it) and enqueues the flag. Alertmanager's pushes
// do not pass through here: the operator records them itself (src/operator/alert-intake.ts).
// Outcomes are stamped with their time, which is how decide() counts each check once.
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import type { FeatureFlag } from "../api/index.js";
import { analyzeFlag, logAnalysisOutcome } from "./analysis.js";
import type { PrometheusAlert, PrometheusApi } from "./prometheus.js";
import { type PrometheusAccess, prometheusForFlag, type ResolvedPrometheus } from "./prometheus-access.js";
import { type AnalysisOutcome, analysisDue } from "./steps.js";

export interface AnalysisRunnerOptions {
  /** The operator's Prometheus (a flag's analysis.prometheus.address overrides the address). */
  client: PrometheusApi;
  /** Allow-list, namespace enforcement and Secret reads (prometheusForFlag); client is its operator. */
  access?: Omit<PrometheusAccess, "operator">;
  /** Flags currently known (the informer cache), iterated once per tick without a copy. */
  listFlags: () => Iterable<FeatureFlag>;
  /**
   * Records an outcome in the cluster (the operator writes status.analysisOutcome) before the
   * flag is enqueued, so a new leader resumes from it; a failure is logged and the check retried.
   */
  persist: (flag: FeatureFlag, outcome: AnalysisOutcome) => Promise<void>;
  /** Reconcile this flag soon (the operator enqueues its namespace). */
  enqueue: (flag: FeatureFlag) => void;
  now?: () => Date;
  log?: Logger;
  /** How often to look for due checks; default 1 s. */
  tickMs?: number;
  /** Checks running at once; default 8. */
  concurrency?: number;
  /** Registry for flagwright_analysis_checks_total (the operator's). */
  registry?: Registry;
}

const idOf = (flag: FeatureFlag) => flag.metadata.uid ?? `${flag.metadata.namespace}/${flag.metadata.name}`;

/** One /api/v1/alerts request per Prometheus per tick, however many flags watch alerts. */
function memoizeAlerts(client: PrometheusApi): PrometheusApi {
  let alerts: Promise<PrometheusAlert[]> | undefined;
  return {
    address: client.address,
    alerts: () => {
      alerts ??= client.alerts();
      return alerts;
    },
    query: (promql, at) => client.query(promql, at),
  };
}

export class AnalysisRunner {
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;

  private readonly checks: Counter<"result"> | undefined;

  constructor(private readonly options: AnalysisRunnerOptions) {
    this.checks =
      options.registry &&
      new Counter({
        name: "flagwright_analysis_checks_total",
        help: "Analysis outcomes (polled checks and pushed alerts), by result: Passed, Failed, Inconclusive, Unavailable.",
        labelNames: ["result"],
        registers: [options.registry],
      });
  }

  /** Runs the checks that are due now; resolves when they have finished. */
  async tick(): Promise<void> {
    const now = (this.options.now ?? (() => new Date()))();
    const due: FeatureFlag[] = [];
    for (const flag of this.options.listFlags()) {
      if (!this.inFlight.has(idOf(flag)) && analysisDue(flag.spec, flag.status, now)) due.push(flag);
    }
    const clientFor = this.clientResolver();
    const worker = async () => {
      for (let flag = due.shift(); flag; flag = due.shift()) await this.check(flag, clientFor, now);
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency ?? 8, due.length) }, worker));
  }

  /** Resolves each flag's Prometheus for one tick, sharing one memoized client per endpoint. */
  private clientResolver(): (flag: FeatureFlag) => Promise<ResolvedPrometheus> {
    const clients = new Map<string, PrometheusApi>();
    const access: PrometheusAccess = { ...this.options.access, operator: this.options.client };
    return async (flag) => {
      const resolved = await prometheusForFlag(flag, access);
      if ("refused" in resolved) return resolved;
      let client = clients.get(resolved.key);
      if (!client) {
        client = memoizeAlerts(resolved.client);
        clients.set(resolved.key, client);
      }
      return { ...resolved, client };
    };
  }

  private async check(
    flag: FeatureFlag,
    clientFor: (flag: FeatureFlag) => Promise<ResolvedPrometheus>,
    now: Date,
  ): Promise<void> {
    const id = idOf(flag);
    this.inFlight.add(id);
    try {
      // The override (if any) is already applied by clientFor; analyzeFlag sees a plain API.
      const resolved = await clientFor(flag);
      const outcome: AnalysisOutcome =
        "refused" in resolved
          ? { result: "Unavailable", message: resolved.refused, at: now }
          : await analyzeFlag(flag, resolved.client, now, {
              confineTo: resolved.confineTo,
              log: this.options.log,
            });
      await this.options.persist(flag, outcome);
      this.record(flag, outcome);
    } catch (error) {
      this.options.log?.error({ err: error, flag: flag.metadata.name }, "analysis check failed");
    } finally {
      this.inFlight.delete(id);
    }
  }

  private record(flag: FeatureFlag, outcome: AnalysisOutcome) {
    this.checks?.inc({ result: outcome.result });
    if (this.options.log) logAnalysisOutcome(this.options.log, flag, outcome);
    this.options.enqueue(flag);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      // One tick at a time: a slow Prometheus must not pile up overlapping rounds.
      this.ticking ??= this.tick().finally(() => {
        this.ticking = undefined;
      });
    }, this.options.tickMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }
}
