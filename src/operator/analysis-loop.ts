// The operator's side of canary analysis: the analysis loop (src/rollout/runner.ts) wired to the
// operator's Prometheus, its Secret reads, the cache and the queue; each outcome is recorded in
// status.analysisOutcome (where the planner reads it) before the flag's namespace is enqueued.
import type { CustomObjectsApi } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { FeatureFlag } from "../api/index.js";
import type { CoreV1Api } from "../kube/client.js";
import {
  type PrometheusApi,
  PrometheusClient,
  PrometheusError,
  type PrometheusSettings,
} from "../rollout/prometheus.js";
import { AnalysisRunner } from "../rollout/runner.js";
import type { OperatorMetrics } from "./metrics.js";
import { applyOutcome } from "./status.js";

export interface AnalysisLoopOptions {
  core: CoreV1Api;
  custom: CustomObjectsApi;
  log: Logger;
  metrics: OperatorMetrics;
  flags: () => Iterable<FeatureFlag>;
  enqueue: (namespace: string) => void;
  prometheus?: PrometheusSettings;
  allowedAddresses?: string[];
  namespaceEnforcement?: boolean;
  tickMs?: number;
  now?: () => Date;
}

export function createAnalysisLoop(options: AnalysisLoopOptions): AnalysisRunner {
  const { core, custom, metrics } = options;
  return new AnalysisRunner({
    client: options.prometheus ? new PrometheusClient(options.prometheus) : noPrometheus,
    access: {
      allowedAddresses: options.allowedAddresses,
      namespaceEnforcement: options.namespaceEnforcement,
      readSecret: (namespace, name) => readSecretData(core, namespace, name),
    },
    listFlags: options.flags,
    persist: async (flag, outcome) => {
      await applyOutcome(custom, flag, "analysisOutcome", outcome);
      metrics.writes.inc({ kind: "analysis" });
    },
    enqueue: (flag) => options.enqueue(flag.metadata.namespace ?? ""),
    now: options.now,
    log: options.log,
    tickMs: options.tickMs,
    registry: metrics.registry,
  });
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
