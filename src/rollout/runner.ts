// The analysis loop the operator runs beside its reconciler: every tick it checks the flags whose
// analysis is due (analysisDue: ramping, and a check during the step is missing or the interval
// has passed), records each outcome (the operator persists it in status.analysisOutcome, so a
// new leader resumes from it), and enqueues the flag when a new outcome arrives. The operator
// records Alertmanager's pushes in status itself (status.pushedAlert, on any replica); onAlerts
// here serves the same purpose in-process. Outcomes are stamped with their time, which is how
// decide() counts each check once however often it is handed the same outcome.
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import type { FeatureFlag } from "../api/index.js";
import {
  analyzeFlag,
  type FiringAlert,
  outcomeFromAlerts,
  type PrometheusAccess,
  prometheusForFlag,
  type ResolvedPrometheus,
} from "./analysis.js";
import type { PrometheusAlert, PrometheusApi } from "./prometheus.js";
import { type AnalysisOutcome, analysisDue } from "./steps.js";

export interface AnalysisRunnerOptions {
  /** The operator's Prometheus (a flag's analysis.prometheus.address overrides the address). */
  client: PrometheusApi;
  /** Allow-list, namespace enforcement and Secret reads (prometheusForFlag); client is its operator. */
  access?: Omit<PrometheusAccess, "operator">;
  /** Flags currently known (the informer cache). */
  listFlags: () => FeatureFlag[];
  /**
   * Records an outcome in the cluster (the operator writes status.analysisOutcome) before the
   * flag is enqueued, so a new leader resumes from it; a failure is logged and the check retried.
   */
  persist?: (flag: FeatureFlag, outcome: AnalysisOutcome) => Promise<void>;
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
  private readonly outcomes = new Map<string, AnalysisOutcome>();
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

  /** The latest outcome for the flag, for RolloutInput.analysis. */
  outcomeFor(flag: FeatureFlag): AnalysisOutcome | undefined {
    return this.outcomes.get(idOf(flag));
  }

  /** Runs the checks that are due now; resolves when they have finished. */
  async tick(): Promise<void> {
    const now = (this.options.now ?? (() => new Date()))();
    const flags = this.options.listFlags();
    const live = new Set(flags.map(idOf));
    for (const id of this.outcomes.keys()) if (!live.has(id)) this.outcomes.delete(id);

    const due = flags.filter((f) => !this.inFlight.has(idOf(f)) && analysisDue(f.spec, f.status, now));
    const clients = new Map<string, PrometheusApi>();
    const access: PrometheusAccess = { ...this.options.access, operator: this.options.client };
    const clientFor = async (flag: FeatureFlag): Promise<ResolvedPrometheus> => {
      const resolved = await prometheusForFlag(flag, access);
      if ("refused" in resolved) return resolved;
      let c = clients.get(resolved.key);
      if (!c) {
        c = memoizeAlerts(resolved.client);
        clients.set(resolved.key, c);
      }
      return { ...resolved, client: c };
    };

    const queue = [...due];
    const worker = async () => {
      for (let flag = queue.shift(); flag; flag = queue.shift()) {
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
          await this.options.persist?.(flag, outcome);
          this.record(flag, outcome);
        } catch (error) {
          this.options.log?.error({ err: error, flag: flag.metadata.name }, "analysis check failed");
        } finally {
          this.inFlight.delete(id);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency ?? 8, due.length) }, worker));
  }

  /** Alertmanager's webhook: matching flags get a Failed outcome and are reconciled at once. */
  onAlerts(alerts: FiringAlert[]): FeatureFlag[] {
    const now = (this.options.now ?? (() => new Date()))();
    const hit: FeatureFlag[] = [];
    for (const flag of this.options.listFlags()) {
      const phase = flag.status?.phase;
      if (phase !== "Progressing" && phase !== "Paused") continue;
      const outcome = outcomeFromAlerts(
        flag.spec,
        alerts,
        now,
        this.options.access?.namespaceEnforcement === false ? undefined : flag.metadata.namespace,
      );
      if (!outcome) continue;
      this.record(flag, outcome);
      hit.push(flag);
    }
    return hit;
  }

  private record(flag: FeatureFlag, outcome: AnalysisOutcome) {
    this.outcomes.set(idOf(flag), outcome);
    this.checks?.inc({ result: outcome.result });
    this.options.log?.info(
      {
        namespace: flag.metadata.namespace,
        flag: flag.metadata.name,
        result: outcome.result,
        reason: outcome.reason,
        message: outcome.message,
      },
      "analysis",
    );
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
