// Builds the operator from its parts and hands them to the manager as runnables: the RBAC check,
// the HTTP server and the cache on every replica; the controller's workers, the analysis loop and
// the experiment loop on the leader. The CLI adds the admission webhooks and runs the manager.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { DEFAULT_CONFIGMAP_NAME } from "../core/index.js";
import type { ExperimentEventReader } from "../experiment/event-store.js";
import { CoreV1Api, CustomObjectsApi } from "../kube/client.js";
import { PrometheusClient, type PrometheusSettings } from "../rollout/prometheus.js";
import type { RolloutOptions } from "../rollout/steps.js";
import { AlertIntake, type AlertmanagerWebhookOptions } from "./alert-intake.js";
import { createAnalysisLoop } from "./analysis-loop.js";
import { OperatorCache } from "./cache.js";
import { Controller, DEBOUNCE_MS } from "./controller.js";
import { ExperimentLoop } from "./experiments.js";
import { OperatorHttpServer } from "./http-server.js";
import { type LeaderElectionSettings, leaderLoop, Manager, type Runnable } from "./manager.js";
import { countFlagsByPhase, createOperatorMetrics } from "./metrics.js";
import { permissionCheck } from "./permissions.js";
import { WorkQueue } from "./queue.js";
import { NamespaceReconciler } from "./reconciler.js";

export interface OperatorOptions {
  kc: KubeConfig;
  log: Logger;
  /** Namespaces to watch; empty means all. */
  namespaces?: string[];
  configMapName?: string;
  workers?: number;
  /** host:port for /healthz, /readyz and /metrics; port 0 picks a free one. */
  httpAddress?: string;
  leaderElection?: LeaderElectionSettings;
  identity?: string;
  /** Prometheus for canary analysis; without it, flags with analysis hold with AnalysisUnavailable. */
  prometheus?: PrometheusSettings;
  /** Other Prometheus addresses trusted with the operator's credentials (--prometheus-allowed-address). */
  prometheusAllowedAddresses?: string[];
  /** Confine flag-authored PromQL and alert matches to the flag's namespace (default true). */
  promqlNamespaceEnforcement?: boolean;
  /** Bearer token for POST /webhooks/alertmanager; the route is off without one. */
  webhookToken?: AlertmanagerWebhookOptions["token"];
  rollout?: RolloutOptions;
  /** How often the analysis loop looks for due checks (default 1 s). */
  analysisTickMs?: number;
  /** How often experiment results and Stale conditions are recomputed (default 60 s). */
  experimentIntervalMs?: number;
  /** Experiment event store (per-user counts across pods); without it experiments read Prometheus. */
  eventStore?: ExperimentEventReader;
  /** How long shutdown waits for in-flight reconciles (default 10 s). */
  drainDeadlineMs?: number;
  /** Started first, on every replica, before the operator's own parts (the admission webhooks). */
  runnables?: Runnable[];
  now?: () => Date;
  /** Informer tuning, for tests of outages. */
  informer?: { watchTimeoutSeconds?: number; maxBackoffMs?: number };
}

export interface Operator {
  manager: Manager;
  identity: string;
  http: OperatorHttpServer;
}

export function createOperator(options: OperatorOptions): Operator {
  const { kc, log, now } = options;
  const identity = options.identity ?? `${hostname()}_${randomBytes(4).toString("hex")}`;
  const configMapName = options.configMapName ?? DEFAULT_CONFIGMAP_NAME;
  const [core, custom] = [kc.makeApiClient(CoreV1Api), kc.makeApiClient(CustomObjectsApi)];
  const metrics = createOperatorMetrics();
  const queue = new WorkQueue(metrics.queue);
  const lease = { name: options.leaderElection?.name ?? "none" };
  const manager = new Manager({
    kc,
    log,
    identity,
    leaderElection: options.leaderElection,
    onLeadership: (leading) => metrics.leader.set(lease, leading ? 1 : 0),
  });
  const cache = new OperatorCache({
    kc,
    log,
    namespaces: options.namespaces,
    configMapName,
    informer: options.informer,
  });
  const reconciler = new NamespaceReconciler({
    ...{ core, custom, log, metrics, configMapName, identity, rollout: options.rollout, now },
    listFlags: (namespace) => cache.flagsIn(namespace),
    getConfigMap: (namespace) => cache.projectedConfigMap(namespace),
    listSegments: (namespace) => cache.segmentsIn(namespace),
    ownWrite: (namespace, name, kind, resourceVersion) =>
      cache.recordOwnWrite(namespace, name, kind, resourceVersion),
    retry: (namespace) => queue.addRateLimited(namespace),
  });
  const controller = new Controller({
    ...{ queue, reconciler, metrics, log, workers: options.workers ?? 4 },
    drainDeadlineMs: options.drainDeadlineMs ?? 10_000,
    knownNamespaces: () => cache.knownNamespaces(),
    synced: () => cache.synced,
    leading: () => manager.isLeader,
  });
  cache.handle({
    changed: (namespace) => queue.addAfter(namespace, DEBOUNCE_MS),
    relisted: () => controller.enqueueAll(),
    flagObserved: (flag, deleted) => reconciler.observed(flag, deleted),
  });
  const flags = () => cache.flags();
  const namespaceEnforcement = options.promqlNamespaceEnforcement;
  const intake = new AlertIntake({
    custom,
    log,
    metrics,
    flags,
    isLeader: () => manager.isLeader,
    namespaceEnforcement,
    now,
  });
  const http = new OperatorHttpServer({
    address: options.httpAddress ?? ":8080",
    metrics,
    ready: () => cache.synced && !manager.stopping,
    beforeScrape: () => countFlagsByPhase(metrics, cache.flags()),
    // Any replica records a push in the matching flags' status before answering.
    ...(options.webhookToken && { routes: intake.router(options.webhookToken) }),
  });
  const analysis = createAnalysisLoop({
    ...{ core, custom, log, metrics, flags, namespaceEnforcement, now },
    enqueue: (namespace) => queue.add(namespace),
    prometheus: options.prometheus,
    allowedAddresses: options.prometheusAllowedAddresses,
    tickMs: options.analysisTickMs,
  });
  const experiments = new ExperimentLoop({
    ...{ custom, log, namespaceEnforcement, now, eventStore: options.eventStore },
    prometheus: options.prometheus ? new PrometheusClient(options.prometheus) : undefined,
    listFlags: flags,
    registry: metrics.registry,
    intervalMs: options.experimentIntervalMs,
  });
  const scope = {
    namespaces: options.namespaces ?? [],
    configMapName,
    leaderElectionNamespace: options.leaderElection?.namespace,
  };
  for (const runnable of options.runnables ?? []) manager.add(runnable);
  manager.add(permissionCheck(kc, scope));
  manager.add(http);
  manager.add(cache);
  manager.add(controller);
  manager.add(leaderLoop("analysis", analysis));
  manager.add(leaderLoop("experiments", experiments));
  return { manager, identity, http };
}
