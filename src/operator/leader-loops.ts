// The loops the leader runs beside the workers: the analysis loop (src/rollout/runner.ts) wired to
// the operator's Prometheus, its Secret reads, the cache and the queue, recording each outcome in
// status.analysisOutcome (where the planner reads it); and the experiment loop (experiments.ts).
import type { CustomObjectsApi } from "@kubernetes/client-node";
import type { FeatureFlag } from "../api/index.js";
import type { CoreV1Api } from "../kube/client.js";
import { type PrometheusApi, PrometheusClient, PrometheusError } from "../rollout/prometheus.js";
import { AnalysisRunner } from "../rollout/runner.js";
import { ExperimentLoop } from "./experiments.js";
import { leaderLoop, type Runnable } from "./manager.js";
import type { OperatorMetrics } from "./metrics.js";
import type { OperatorOptions } from "./options.js";
import { applyOutcome } from "./status.js";

export interface LeaderLoopsOptions {
  options: OperatorOptions;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  metrics: OperatorMetrics;
  /** The cached flags, iterated once per pass without a copy. */
  flags: () => Iterable<FeatureFlag>;
  /** Reconcile the namespace soon (a new outcome arrived). */
  enqueue: (namespace: string) => void;
}

export function leaderLoops(loops: LeaderLoopsOptions): Runnable[] {
  const { options, custom, metrics, flags } = loops;
  const { log, now } = options;
  const namespaceEnforcement = options.promqlNamespaceEnforcement;
  const analysis = new AnalysisRunner({
    client: options.prometheus ? new PrometheusClient(options.prometheus) : noPrometheus,
    access: {
      allowedAddresses: options.prometheusAllowedAddresses,
      namespaceEnforcement,
      readSecret: (namespace, name) => readSecretData(loops.core, namespace, name),
    },
    listFlags: flags,
    persist: async (flag, outcome) => {
      await applyOutcome(custom, flag, "analysisOutcome", outcome);
      metrics.writes.inc({ kind: "analysis" });
    },
    enqueue: (flag) => loops.enqueue(flag.metadata.namespace ?? ""),
    ...{ now, log, tickMs: options.analysisTickMs, registry: metrics.registry },
  });
  const experiments = new ExperimentLoop({
    ...{ custom, log, namespaceEnforcement, now, eventStore: options.eventStore },
    prometheus: options.prometheus ? new PrometheusClient(options.prometheus) : undefined,
    listFlags: flags,
    registry: metrics.registry,
    intervalMs: options.experimentIntervalMs,
  });
  return [leaderLoop("analysis", analysis), leaderLoop("experiments", experiments)];
}

/**
 * A Secret's data, decoded, or undefined when it does not exist; other errors (403 when RBAC does
 * not grant the read) are thrown with their HTTP code. One GET by name: no list, no watch.
 */
async function readSecretData(
  core: CoreV1Api,
  namespace: string,
  name: string,
): Promise<Record<string, string> | undefined> {
  try {
    const secret = await core.readNamespacedSecret({ namespace, name });
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(secret.data ?? {}))
      data[k] = Buffer.from(v, "base64").toString("utf8");
    return data;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  }
}

/** Stands in when no Prometheus is configured, so analysed flags say why they hold. */
const noPrometheus: PrometheusApi = {
  address: "",
  alerts: () =>
    Promise.reject(
      new PrometheusError("no Prometheus configured (operator flag --prometheus-url)", "network"),
    ),
  query: () =>
    Promise.reject(
      new PrometheusError("no Prometheus configured (operator flag --prometheus-url)", "network"),
    ),
};
