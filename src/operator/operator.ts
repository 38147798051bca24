// Builds the operator from its parts and hands them to the manager as runnables: the RBAC check,
// the HTTP server and the cache on every replica; the controller's workers, the analysis loop and
// the experiment loop on the leader. The CLI adds the admission webhooks and runs the manager.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { DEFAULT_CONFIGMAP_NAME } from "../core/index.js";
import { CoreV1Api, CustomObjectsApi } from "../kube/client.js";
import { AlertIntake } from "./alert-intake.js";
import { OperatorCache } from "./cache.js";
import { Controller, DEBOUNCE_MS } from "./controller.js";
import { OperatorHttpServer } from "./http-server.js";
import { leaderLoops } from "./leader-loops.js";
import { Manager } from "./manager.js";
import { countFlagsByPhase, createOperatorMetrics, type OperatorMetrics } from "./metrics.js";
import type { OperatorOptions } from "./options.js";
import { permissionCheck } from "./permissions.js";
import { WorkQueue } from "./queue.js";
import { NamespaceReconciler } from "./reconciler.js";

export type { OperatorOptions } from "./options.js";

export interface Operator {
  manager: Manager;
  identity: string;
  http: OperatorHttpServer;
}

/** What every part shares: clients, metrics, the queue and the manager. */
interface Shared {
  options: OperatorOptions;
  identity: string;
  configMapName: string;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  metrics: OperatorMetrics;
  queue: WorkQueue;
  manager: Manager;
}

export function createOperator(options: OperatorOptions): Operator {
  const { kc, log } = options;
  const identity = options.identity ?? `${hostname()}_${randomBytes(4).toString("hex")}`;
  const metrics = createOperatorMetrics();
  const lease = options.leaderElection;
  const manager = new Manager({
    ...{ kc, log, identity, leaderElection: lease },
    onLeadership: (leading) => metrics.leader.set({ name: lease?.name ?? "none" }, leading ? 1 : 0),
  });
  const shared: Shared = {
    ...{ options, identity, metrics, manager },
    configMapName: options.configMapName ?? DEFAULT_CONFIGMAP_NAME,
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    queue: new WorkQueue(metrics.queue),
  };
  const { cache, controller } = reconcilePath(shared);
  const http = httpServer(shared, cache);
  const { configMapName, core, custom, queue } = shared;
  const loops = leaderLoops({
    ...{ options, core, custom, metrics, flags: () => cache.flags() },
    enqueue: (namespace) => queue.add(namespace),
  });
  const scope = {
    namespaces: options.namespaces ?? [],
    configMapName,
    leaderElectionNamespace: lease?.namespace,
  };
  // Started in this order; the manager stops them in reverse, the leader's first.
  const runnables = [
    ...(options.runnables ?? []),
    permissionCheck(kc, scope),
    http,
    cache,
    controller,
    ...loops,
  ];
  for (const runnable of runnables) manager.add(runnable);
  return { manager, identity, http };
}

/** Cache → queue → controller → reconciler, and the cache's events back into the queue. */
function reconcilePath(shared: Shared): { cache: OperatorCache; controller: Controller } {
  const { options, metrics, queue, manager, configMapName } = shared;
  const { kc, log, now } = options;
  const cache = new OperatorCache({
    kc,
    log,
    namespaces: options.namespaces,
    configMapName,
    informer: options.informer,
  });
  const reconciler = new NamespaceReconciler({
    ...{ core: shared.core, custom: shared.custom, log, metrics, configMapName, now },
    ...{ identity: shared.identity, rollout: options.rollout },
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
  return { cache, controller };
}

/** Probes and metrics on every replica, and the Alertmanager route: any replica records a push. */
function httpServer(shared: Shared, cache: OperatorCache): OperatorHttpServer {
  const { options, metrics, manager } = shared;
  const intake = new AlertIntake({
    ...{ custom: shared.custom, log: options.log, metrics, now: options.now },
    flags: () => cache.flags(),
    isLeader: () => manager.isLeader,
    namespaceEnforcement: options.promqlNamespaceEnforcement,
  });
  return new OperatorHttpServer({
    address: options.httpAddress ?? ":8080",
    metrics,
    ready: () => cache.synced && !manager.stopping,
    beforeScrape: () => countFlagsByPhase(metrics, cache.flags()),
    ...(options.webhookToken && { routes: intake.router(options.webhookToken) }),
  });
}
