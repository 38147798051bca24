// Wires the operator together: informers feed namespace keys into the work queue, workers
// reconcile them while this replica leads, and the HTTP server answers probes and metrics.

import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import { hostname } from "node:os";
import type { KubeConfig, KubernetesObject, V1ConfigMap } from "@kubernetes/client-node";
import express from "express";
import type { Logger } from "pino";
import {
  type FeatureFlag,
  GROUP,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  PLURAL,
  SEGMENT_PLURAL,
  type Segment,
  VERSION,
} from "../api/index.js";
import { STATUS_WRITERS } from "../api/ownership.js";
import { DEFAULT_CONFIGMAP_NAME, DOCUMENT_KEY } from "../core/index.js";
import type { ExperimentEventReader } from "../experiment/event-store.js";
import { parseHostPort } from "../host-port.js";
import { CoreV1Api, CustomObjectsApi } from "../kube/client.js";
import { listSegments } from "../kube/featureflags.js";
import { Informer } from "../kube/informer.js";
import { alertmanagerWebhook, type FiringAlert, outcomeFromAlerts } from "../rollout/analysis.js";
import {
  type PrometheusApi,
  PrometheusClient,
  PrometheusError,
  type PrometheusSettings,
} from "../rollout/prometheus.js";
import { AnalysisRunner } from "../rollout/runner.js";
import type { AnalysisOutcome, RolloutOptions } from "../rollout/steps.js";
import { ExperimentLoop } from "./experiments.js";
import { LeaderElector } from "./leader.js";
import { createOperatorMetrics, type OperatorMetrics } from "./metrics.js";
import { missingPermissions } from "./permissions.js";
import { type ProjectedConfigMap, REVISION_ANNOTATION } from "./plan.js";
import { WorkQueue } from "./queue.js";
import { NamespaceReconciler } from "./reconciler.js";
import { applyStatus } from "./status.js";

/** A burst of changes in one namespace (a kubectl apply of many flags) becomes one reconcile. */
const DEBOUNCE_MS = 100;
/** Flags listed per page: a relist of 10,000 never holds them all untransformed at once. */
const LIST_PAGE = 500;

/** The ConfigMap as cached: metadata the operator reads and the document's revision, not its data. */
type CachedConfigMap = KubernetesObject & { documentRevision?: string };

export interface OperatorOptions {
  kc: KubeConfig;
  log: Logger;
  /** Namespaces to watch; empty means all. */
  namespaces?: string[];
  configMapName?: string;
  workers?: number;
  /** host:port for /healthz, /readyz and /metrics; port 0 picks a free one. */
  httpAddress?: string;
  leaderElection?: {
    namespace: string;
    name: string;
    leaseDurationMs?: number;
    renewDeadlineMs?: number;
    retryPeriodMs?: number;
  };
  identity?: string;
  /** Prometheus for canary analysis; without it, flags with analysis hold with AnalysisUnavailable. */
  prometheus?: PrometheusSettings;
  /** Other Prometheus addresses trusted with the operator's credentials (--prometheus-allowed-address). */
  prometheusAllowedAddresses?: string[];
  /** Confine flag-authored PromQL and alert matches to the flag's namespace (default true). */
  promqlNamespaceEnforcement?: boolean;
  /** Bearer token for POST /webhooks/alertmanager; the route is off without one. */
  webhookToken?: string | (() => string | Promise<string>);
  rollout?: RolloutOptions;
  /** How often the analysis loop looks for due checks (default 1 s). */
  analysisTickMs?: number;
  /** How often experiment results and Stale conditions are recomputed (default 60 s). */
  experimentIntervalMs?: number;
  /** Experiment event store (per-user counts across pods); without it experiments read Prometheus. */
  eventStore?: ExperimentEventReader;
  now?: () => Date;
  /** Informer tuning, for tests of outages. */
  informer?: { watchTimeoutSeconds?: number; maxBackoffMs?: number };
}

export class Operator {
  readonly metrics: OperatorMetrics = createOperatorMetrics();
  readonly identity: string;
  readonly queue: WorkQueue;
  private readonly flagInformers: Informer<FeatureFlag>[] = [];
  private readonly configMapInformers: Informer<CachedConfigMap>[] = [];
  private readonly segmentInformers: Informer<Segment>[] = [];
  /** resourceVersions our own writes produced, by object: their watch events need no reconcile. */
  private readonly ownWrites = new Map<string, string>();
  private readonly reconciler: NamespaceReconciler;
  private readonly elector?: LeaderElector;
  readonly analysis: AnalysisRunner;
  readonly experiments: ExperimentLoop;
  private readonly custom: CustomObjectsApi;
  private server?: Server;
  private workers: Promise<void>[] = [];
  private leading = false;
  private active = 0;
  private stopped = false;

  constructor(private readonly options: OperatorOptions) {
    this.identity = options.identity ?? `${hostname()}_${randomBytes(4).toString("hex")}`;
    this.queue = new WorkQueue(this.metrics.queue);
    const { kc, log } = options;
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    this.custom = custom;
    const configMapName = options.configMapName ?? DEFAULT_CONFIGMAP_NAME;
    const labelSelector = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
    // The one name the operator projects: RBAC grants list and watch by resourceNames only to
    // requests whose field selector names the object, so the shipped role allows no other ConfigMap.
    const fieldSelector = `metadata.name=${configMapName}`;
    const scopes = options.namespaces?.length ? options.namespaces : [undefined];

    for (const namespace of scopes) {
      const nsPath = namespace ? `/namespaces/${namespace}` : "";
      this.flagInformers.push(
        new Informer<FeatureFlag>({
          name: `featureflags${namespace ? `/${namespace}` : ""}`,
          kc,
          log,
          ...options.informer,
          path: `/apis/${GROUP}/${VERSION}${nsPath}/${PLURAL}`,
          transform: cachedFlag,
          list: () => listFlagsPaged(custom, namespace),
        }),
      );
      this.segmentInformers.push(
        new Informer<Segment>({
          name: `segments${namespace ? `/${namespace}` : ""}`,
          kc,
          log,
          ...options.informer,
          path: `/apis/${GROUP}/${VERSION}${nsPath}/${SEGMENT_PLURAL}`,
          list: () => listSegments(custom, namespace),
        }),
      );
      this.configMapInformers.push(
        new Informer<CachedConfigMap>({
          name: `configmaps${namespace ? `/${namespace}` : ""}`,
          kc,
          log,
          ...options.informer,
          path: `/api/v1${nsPath}/configmaps`,
          query: { labelSelector, fieldSelector },
          transform: cachedConfigMap,
          list: async () => {
            const list = namespace
              ? await core.listNamespacedConfigMap({ namespace, labelSelector, fieldSelector })
              : await core.listConfigMapForAllNamespaces({ labelSelector, fieldSelector });
            return {
              items: list.items.map(cachedConfigMap),
              resourceVersion: list.metadata?.resourceVersion ?? "",
            };
          },
        }),
      );
    }

    const enqueue = (object: KubernetesObject) => {
      if (object.metadata?.namespace) this.queue.addAfter(object.metadata.namespace, DEBOUNCE_MS);
    };
    // Our own write coming back through the watch changes nothing the plan has not seen.
    const enqueueUnlessOwn = (kind: string, object: KubernetesObject) => {
      const id = `${kind}/${object.metadata?.namespace}/${object.metadata?.name}`;
      const own = this.ownWrites.get(id);
      if (own !== undefined && own === object.metadata?.resourceVersion) {
        this.ownWrites.delete(id);
        return;
      }
      enqueue(object);
    };
    // A Segment is used only by flags of its own namespace: re-projecting that namespace re-projects them.
    for (const informer of this.segmentInformers) {
      informer.on("add", enqueue);
      informer.on("update", (_old, object) => enqueue(object));
      informer.on("delete", enqueue);
      informer.on("relisted", () => this.enqueueAll());
    }
    for (const informer of this.flagInformers) {
      informer.on("add", enqueue);
      informer.on("update", (_old, object) => {
        this.reconciler.observed(object);
        enqueueUnlessOwn("FeatureFlag", object);
      });
      informer.on("delete", (object) => {
        this.reconciler.observed(object, true);
        this.ownWrites.delete(`FeatureFlag/${object.metadata?.namespace}/${object.metadata?.name}`);
        enqueue(object);
      });
      informer.on("relisted", () => this.enqueueAll());
    }
    for (const informer of this.configMapInformers) {
      // Only our own ConfigMap is watched: someone editing or deleting it gets it restored.
      const onConfigMap = (cm: CachedConfigMap) => enqueueUnlessOwn("ConfigMap", cm);
      informer.on("add", onConfigMap);
      informer.on("update", (_old, cm) => onConfigMap(cm));
      // A deletion is never our echo (the informer hands over the last cached copy, whose
      // resourceVersion may be that of our own write).
      informer.on("delete", (cm) => {
        this.ownWrites.delete(`ConfigMap/${cm.metadata?.namespace}/${cm.metadata?.name}`);
        enqueue(cm);
      });
      informer.on("relisted", () => this.enqueueAll());
    }

    this.analysis = new AnalysisRunner({
      client: options.prometheus ? new PrometheusClient(options.prometheus) : noPrometheus,
      access: {
        allowedAddresses: options.prometheusAllowedAddresses,
        namespaceEnforcement: options.promqlNamespaceEnforcement,
        readSecret: (namespace, name) => readSecretData(core, namespace, name),
      },
      listFlags: () => this.listFlags(),
      persist: (flag, outcome) =>
        this.recordOutcome(flag, "analysisOutcome", outcome, STATUS_WRITERS.analysis.fieldManager),
      enqueue: (flag) => this.enqueueNamespace(flag.metadata.namespace ?? ""),
      now: options.now,
      log,
      tickMs: options.analysisTickMs,
      registry: this.metrics.registry,
    });

    this.experiments = new ExperimentLoop({
      custom,
      prometheus: options.prometheus ? new PrometheusClient(options.prometheus) : undefined,
      namespaceEnforcement: options.promqlNamespaceEnforcement,
      listFlags: () => this.listFlags(),
      log,
      registry: this.metrics.registry,
      intervalMs: options.experimentIntervalMs,
      eventStore: options.eventStore,
      now: options.now,
    });

    this.reconciler = new NamespaceReconciler({
      core,
      custom,
      log,
      metrics: this.metrics,
      configMapName,
      identity: this.identity,
      listFlags: (namespace) => this.flagInformers.flatMap((i) => i.listNamespace(namespace)),
      getConfigMap: (namespace): ProjectedConfigMap | undefined => {
        for (const informer of this.configMapInformers) {
          const cm = informer.get(namespace, configMapName);
          if (cm)
            return {
              revision: cm.documentRevision,
              managed: cm.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE,
              ownerReferences: cm.metadata?.ownerReferences?.length ?? 0,
            };
        }
        return undefined;
      },
      listSegments: (namespace) => this.segmentInformers.flatMap((i) => i.listNamespace(namespace)),
      ownWrite: (namespace, name, kind, resourceVersion) =>
        this.ownWrites.set(`${kind}/${namespace}/${name}`, resourceVersion),
      retry: (namespace) => this.queue.addRateLimited(namespace),
      rollout: options.rollout,
      now: options.now,
    });

    if (options.leaderElection) {
      this.elector = new LeaderElector({
        kc,
        log,
        identity: this.identity,
        ...options.leaderElection,
        onStartedLeading: () => this.startLeading(),
        onStoppedLeading: () => this.stopLeading(),
      });
    }
  }

  /** True once every informer has listed (and, with leader election, whether leading or standing by). */
  get ready(): boolean {
    return [...this.flagInformers, ...this.configMapInformers, ...this.segmentInformers].every(
      (i) => i.synced,
    );
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The bound HTTP address (after start). */
  get httpAddress(): { host: string; port: number } | undefined {
    const address = this.server?.address();
    return address && typeof address === "object" ? { host: address.address, port: address.port } : undefined;
  }

  /** Namespaces that hold flags or a projected ConfigMap. */
  private knownNamespaces(): Set<string> {
    const namespaces = new Set<string>();
    for (const informer of [...this.flagInformers, ...this.configMapInformers]) {
      for (const namespace of informer.namespaceNames()) if (namespace) namespaces.add(namespace);
    }
    return namespaces;
  }

  private enqueueAll(): void {
    for (const namespace of this.knownNamespaces()) this.queue.add(namespace);
  }

  enqueueNamespace(namespace: string): void {
    this.queue.add(namespace);
  }

  /** Flags currently cached, for the analysis loop and webhooks. */
  listFlags(): FeatureFlag[] {
    return this.flagInformers.flatMap((i) => i.list());
  }

  async start(): Promise<void> {
    const missing = await missingPermissions(this.options.kc, {
      namespaces: this.options.namespaces ?? [],
      configMapName: this.options.configMapName ?? DEFAULT_CONFIGMAP_NAME,
      leaderElectionNamespace: this.options.leaderElection?.namespace,
    });
    if (missing.length > 0) {
      throw new PermissionError(missing);
    }
    await this.startServer();
    for (const informer of [...this.flagInformers, ...this.configMapInformers, ...this.segmentInformers])
      informer.start();
    if (this.elector) this.elector.start();
    else this.startLeading();
  }

  private startLeading(): void {
    if (this.stopped || this.leading) return;
    this.leading = true;
    this.metrics.leader.set({ name: this.options.leaderElection?.name ?? "none" }, 1);
    // Plan only from a complete cache: a namespace planned before the ConfigMaps are listed would
    // look unprojected and be written again.
    const count = this.options.workers ?? 4;
    const synced = new Promise<void>((resolve) => {
      const check = () => (this.ready || this.stopped ? resolve() : setTimeout(check, 50).unref());
      check();
    });
    this.workers = Array.from({ length: count }, () => synced.then(() => this.work()));
    void synced.then(() => {
      if (this.stopped) return;
      this.enqueueAll();
      this.analysis.start();
      this.experiments.start();
    });
  }

  private stopLeading(): void {
    // A replica that lost the lease must stop writing at once: controller-runtime exits the
    // process, and so do we (the Deployment restarts it as a standby).
    this.leading = false;
    this.metrics.leader.set({ name: this.options.leaderElection?.name ?? "none" }, 0);
    this.queue.shutDown();
    this.options.log.error({ reason: "LeaderElectionLost" }, "leadership lost; exiting");
    process.exit(1);
  }

  private async work(): Promise<void> {
    const { log, metrics } = { log: this.options.log, metrics: this.metrics };
    for (;;) {
      // Yield to timers and I/O between items: a key requeued at once (delay 0) must not starve
      // the lease renewal, webhooks or SIGTERM of this single-threaded process.
      await new Promise((resolve) => setImmediate(resolve));
      const namespace = await this.queue.get();
      if (namespace === undefined) return;
      this.active++;
      metrics.reconcile.activeWorkers(this.active);
      const started = performance.now();
      try {
        if (!this.leading) continue;
        const { requeueAfterMs } = await this.reconciler.reconcile(namespace);
        this.queue.forget(namespace);
        if (requeueAfterMs !== undefined) {
          this.queue.addAfter(namespace, requeueAfterMs);
          metrics.reconcile.total("requeue_after");
        } else {
          metrics.reconcile.total("success");
        }
      } catch (error) {
        metrics.reconcile.total("error");
        metrics.reconcile.error();
        const err = error as { code?: number; message?: string; body?: unknown };
        log.warn(
          {
            namespace,
            reason: err.code === 409 ? "Conflict" : "ReconcileFailed",
            code: err.code,
            err: err.message,
          },
          "reconcile failed; retrying with backoff",
        );
        this.queue.addRateLimited(namespace);
      } finally {
        metrics.reconcile.time((performance.now() - started) / 1000);
        this.queue.done(namespace);
        this.active--;
        metrics.reconcile.activeWorkers(this.active);
      }
    }
  }

  /**
   * Records a pushed alert in every ramping flag it fails (status.pushedAlert, field manager
   * flagwright-alerts); resolves once all are written. The leader reconciles from its watch.
   */
  async recordPushedAlerts(alerts: FiringAlert[]): Promise<FeatureFlag[]> {
    const now = (this.options.now ?? (() => new Date()))();
    const hit: { flag: FeatureFlag; outcome: AnalysisOutcome }[] = [];
    for (const flag of this.listFlags()) {
      const phase = flag.status?.phase;
      if (phase !== "Progressing" && phase !== "Paused") continue;
      // Stamped after every check this replica has seen: a standby's clock behind the leader's
      // must not make the push look older than the last counted check (and be skipped).
      const seen = [flag.status?.lastAnalysis?.at, flag.status?.analysisOutcome?.at].map((t) =>
        t ? Date.parse(t) + 1 : 0,
      );
      const at = new Date(Math.max(now.getTime(), ...seen.filter((t) => !Number.isNaN(t))));
      const confineTo =
        this.options.promqlNamespaceEnforcement === false ? undefined : flag.metadata.namespace;
      const outcome = outcomeFromAlerts(flag.spec, alerts, at, confineTo);
      if (!outcome) continue;
      hit.push({ flag, outcome });
      // Logged on arrival, as the analysis loop logs its checks (tests time the push from it).
      this.options.log.info(
        {
          namespace: flag.metadata.namespace,
          flag: flag.metadata.name,
          result: outcome.result,
          reason: outcome.reason,
          message: outcome.message,
        },
        "analysis",
      );
    }
    await Promise.all(
      hit.map(async ({ flag, outcome }) => {
        await this.recordOutcome(flag, "pushedAlert", outcome, STATUS_WRITERS.alerts.fieldManager);
        this.options.log.info(
          {
            namespace: flag.metadata.namespace,
            flag: flag.metadata.name,
            alert: outcome.alertName,
            leader: this.leading,
            reason: "AlertRecorded",
          },
          "pushed alert recorded",
        );
      }),
    );
    return hit.map((h) => h.flag);
  }

  private async recordOutcome(
    flag: FeatureFlag,
    field: "analysisOutcome" | "pushedAlert",
    outcome: AnalysisOutcome,
    fieldManager: string,
  ): Promise<void> {
    const recorded: Record<string, unknown> = {
      at: (outcome.at ?? new Date()).toISOString(),
      result: outcome.result,
      message: outcome.message.slice(0, 4000),
    };
    if (outcome.reason !== undefined) recorded.reason = outcome.reason;
    if (outcome.alertName !== undefined) recorded.alertName = outcome.alertName;
    if (outcome.query !== undefined) recorded.query = outcome.query;
    if (outcome.value !== undefined && Number.isFinite(outcome.value)) recorded.value = outcome.value;
    // The guarded comparison's progress goes with the check that made it, in the same write.
    const part: Record<string, unknown> = { [field]: recorded };
    if (field === "analysisOutcome" && outcome.cohortProgress) part.cohortAnalysis = outcome.cohortProgress;
    await applyStatus(this.custom, flag, part, { fieldManager });
    this.metrics.writes.inc({ kind: field === "pushedAlert" ? "alert" : "analysis" });
  }

  private updateFlagGauge(): void {
    this.metrics.flags.reset();
    for (const flag of this.listFlags()) this.metrics.flags.inc({ phase: flag.status?.phase ?? "Pending" });
  }

  private async startServer(): Promise<void> {
    const app = express();
    app.disable("x-powered-by");
    app.get("/healthz", (_req, res) => {
      res.type("text/plain").send("ok");
    });
    app.get("/readyz", (_req, res) => {
      const ready = this.ready && !this.stopped;
      res
        .status(ready ? 200 : 503)
        .type("text/plain")
        .send(ready ? "ok" : "informers not synced");
    });
    app.get("/metrics", async (_req, res) => {
      this.updateFlagGauge();
      res.type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics());
    });
    if (this.options.webhookToken) {
      app.use(
        alertmanagerWebhook({
          token: this.options.webhookToken,
          log: this.options.log,
          // Any replica records the push in the matching flags' status before answering; the
          // leader's watch sees it. A failed write answers 5xx, so Alertmanager sends it again.
          onAlerts: async (alerts) => {
            await this.recordPushedAlerts(alerts);
          },
        }),
      );
    }
    const { host, port } = parseHostPort(this.options.httpAddress ?? ":8080", { flag: "--http-address" });
    const server = createServer(app);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port, host }, () => resolve());
    });
  }

  /** Stops taking work, lets in-flight reconciles finish (up to deadlineMs), releases the lease. */
  async stop(deadlineMs = 10_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.queue.shutDown();
    await this.analysis.stop();
    await this.experiments.stop();
    const drained = Promise.all(this.workers);
    await Promise.race([
      drained.then(() => this.reconciler.flushed()),
      new Promise((resolve) => setTimeout(resolve, deadlineMs).unref()),
    ]);
    await this.elector?.stop();
    await Promise.all(
      [...this.flagInformers, ...this.configMapInformers, ...this.segmentInformers].map((i) => i.stop()),
    );
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** Stands in when no Prometheus is configured, so analysed flags say why they hold. */
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

export class PermissionError extends Error {
  constructor(readonly missing: string[]) {
    super(`missing RBAC permissions (see deploy/rbac.yaml): ${missing.join("; ")}`);
    this.name = "PermissionError";
  }
}

/** Keeps what the operator reads of a FeatureFlag: no managedFields, no last-applied annotation. */
function cachedFlag(flag: FeatureFlag): FeatureFlag {
  const { name, namespace, uid, generation, resourceVersion, creationTimestamp, deletionTimestamp } =
    flag.metadata;
  return {
    apiVersion: flag.apiVersion,
    kind: flag.kind,
    metadata: { name, namespace, uid, generation, resourceVersion, creationTimestamp, deletionTimestamp },
    spec: flag.spec,
    ...(flag.status && { status: flag.status }),
  };
}

/** Keeps a ConfigMap's metadata and its document's revision; the data (up to 1 MiB) goes. */
function cachedConfigMap(cm: V1ConfigMap | CachedConfigMap): CachedConfigMap {
  if (!("data" in cm)) return cm;
  const { name, namespace, resourceVersion, labels, annotations, ownerReferences } = cm.metadata ?? {};
  let documentRevision: string | undefined;
  try {
    const text = cm.data?.[DOCUMENT_KEY];
    documentRevision = text ? (JSON.parse(text) as { revision?: string }).revision : undefined;
  } catch {
    // unreadable content (edited by hand): no revision, so the next reconcile rewrites it
  }
  const revisionAnnotation = annotations?.[REVISION_ANNOTATION];
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name,
      namespace,
      resourceVersion,
      labels,
      ...(revisionAnnotation && { annotations: { [REVISION_ANNOTATION]: revisionAnnotation } }),
      ...(ownerReferences?.length && { ownerReferences }),
    },
    ...(documentRevision && { documentRevision }),
  };
}

/** Lists FeatureFlags page by page, keeping only what the cache keeps of each. */
async function listFlagsPaged(
  custom: CustomObjectsApi,
  namespace: string | undefined,
): Promise<{ items: FeatureFlag[]; resourceVersion: string }> {
  const items: FeatureFlag[] = [];
  let resourceVersion = "";
  let next: string | undefined;
  do {
    const common = { group: GROUP, version: VERSION, plural: PLURAL, limit: LIST_PAGE, _continue: next };
    const page = (
      namespace
        ? await custom.listNamespacedCustomObject({ ...common, namespace })
        : await custom.listClusterCustomObject(common)
    ) as { items: FeatureFlag[]; metadata?: { resourceVersion?: string; continue?: string } };
    for (const flag of page.items) items.push(cachedFlag(flag));
    resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    next = page.metadata?.continue || undefined;
  } while (next);
  return { items, resourceVersion };
}
