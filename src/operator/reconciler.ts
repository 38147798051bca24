// Executes the plan of one namespace (plan.ts): the ConfigMap first, so a change reaches sidecars
// without waiting for anything else; then the reconciler's part of each flag's status and the
// Events, handed to a separate writer so they never hold the namespace (or a rollback queued behind
// it). Until the cache shows a written status, the status it will hold stands in for it (the
// overlay), so a reconcile in between plans neither the same write nor the same Events again.
// A burst of 10,000 new flags queues 10,000 writes that take minutes: each waits as the flag's
// coordinates and the reconciler's part of its status only (no flag object, no merged copy), and
// a flag planned again while its write waits replaces it (latest wins), so the queue holds at most
// one small entry per flag.
import type { CoreV1Api, CustomObjectsApi, KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { FeatureFlag, FeatureFlagStatus, Segment } from "../api/index.js";
import { mergeOwned, STATUS_WRITERS } from "../api/ownership.js";
import { DOCUMENT_KEY, type FlagDocument, parseDocument } from "../core/index.js";
import type { RolloutOptions } from "../rollout/steps.js";
import type { OperatorMetrics } from "./metrics.js";
import { type PlannedEvent, type ProjectedConfigMap, plan, type StatusPatch } from "./plan.js";
import { applyStatus, SERVER_SIDE_APPLY } from "./status.js";

export { MAX_DOCUMENT_BYTES } from "./plan.js";

const STATUS_WRITE_CONCURRENCY = 8;

export interface ReconcilerOptions {
  core: CoreV1Api;
  custom: CustomObjectsApi;
  log: Logger;
  metrics: OperatorMetrics;
  configMapName: string;
  identity: string;
  /** The namespace's flags from the cache. */
  listFlags: (namespace: string) => FeatureFlag[];
  getConfigMap: (namespace: string) => ProjectedConfigMap | undefined;
  /** Segments of the namespace, for the rules that name them. */
  listSegments?: (namespace: string) => Segment[];
  /** A write of ours came back with this resourceVersion: its watch event needs no reconcile. */
  ownWrite?: (
    namespace: string,
    name: string,
    kind: "FeatureFlag" | "ConfigMap",
    resourceVersion: string,
  ) => void;
  /** Look at the namespace again (a status write failed). */
  retry?: (namespace: string) => void;
  rollout?: RolloutOptions;
  now?: () => Date;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

const flagId = (flag: Pick<FeatureFlag, "metadata">) => `${flag.metadata.namespace}/${flag.metadata.name}`;

/** An Event as queued behind its flag's status write: what createEvent needs of the flag, no more. */
export interface QueuedEvent extends Omit<PlannedEvent, "flag"> {
  flag: KubernetesObject;
}

/** A planned status write waiting for a writer, and (as the overlay) until the cache shows it. */
export interface PendingStatus {
  namespace: string;
  name: string;
  /** The resourceVersion the plan read: the write is conditional on it. */
  baseVersion?: string;
  /** The reconciler's part of status (what is sent). */
  status: FeatureFlagStatus;
  /** The phase before the first write queued, for the PhaseChanged log line. */
  fromPhase?: string;
  /** Events recorded once the write succeeds. */
  events: QueuedEvent[];
}

/** The fields of a flag an Event's involvedObject names. */
function eventSubject(flag: FeatureFlag): KubernetesObject {
  const { name, namespace, uid, resourceVersion } = flag.metadata;
  return {
    apiVersion: flag.apiVersion,
    kind: flag.kind,
    metadata: { name, namespace, uid, resourceVersion },
  };
}

const queuedEvent = ({ flag, ...event }: PlannedEvent): QueuedEvent => ({
  ...event,
  flag: eventSubject(flag),
});

/**
 * Queues a planned status write, coalescing per flag: a write still waiting takes the newer
 * status and base version (latest wins, in its place in the queue) and keeps its Events. Returns
 * the entry now queued for the flag. No I/O.
 */
export function enqueueStatus(
  pending: Map<string, PendingStatus>,
  patch: Pick<StatusPatch, "flag" | "status">,
  events: PlannedEvent[],
): PendingStatus {
  const { flag, status } = patch;
  const id = flagId(flag);
  const queued = pending.get(id);
  if (queued) {
    queued.status = status;
    queued.baseVersion = flag.metadata.resourceVersion;
    queued.events.push(...events.map(queuedEvent));
    return queued;
  }
  const entry: PendingStatus = {
    namespace: flag.metadata.namespace ?? "",
    name: flag.metadata.name ?? "",
    baseVersion: flag.metadata.resourceVersion,
    status,
    fromPhase: flag.status?.phase,
    events: events.map(queuedEvent),
  };
  pending.set(id, entry);
  return entry;
}

export class NamespaceReconciler {
  /** Planned statuses not yet seen in the cache, by flag, with the resourceVersion they replace. */
  private readonly overlay = new Map<string, PendingStatus>();
  /** Status writes waiting for a writer, one per flag, oldest first (a Map keeps insertion order). */
  private readonly pending = new Map<string, PendingStatus>();
  private writers = 0;
  private idleWaiters: (() => void)[] = [];
  /**
   * The last document planned, for namespaces where a flag uses targeting only: a flag whose rules
   * break keeps serving its last good version. The cache keeps no ConfigMap data, so after a
   * restart it is read once from the API server.
   */
  private readonly lastDocuments = new Map<string, FlagDocument>();

  constructor(private readonly options: ReconcilerOptions) {}

  async reconcile(namespace: string): Promise<ReconcileResult> {
    const { listFlags, now = () => new Date(), configMapName, metrics } = this.options;
    const flags = listFlags(namespace).map((flag) => this.withOverlay(flag));
    const targeted = flags.some((f) => f.spec.rules?.length || f.spec.prerequisites?.length);
    const configMap = this.options.getConfigMap(namespace);
    const previousDocument = targeted ? await this.previousDocument(namespace, configMap) : undefined;
    const p = plan(
      {
        namespace,
        configMapName,
        flags,
        configMap,
        segments: this.options.listSegments?.(namespace) ?? [],
        ...(previousDocument && { previousDocument }),
        rollout: this.options.rollout,
      },
      now(),
    );
    if (targeted && p.invalidDocument === undefined) this.lastDocuments.set(namespace, p.document);
    else if (!targeted) this.lastDocuments.delete(namespace);
    if (p.invalidDocument !== undefined)
      this.options.log.error(
        { namespace, reason: "InvalidDocument", err: p.invalidDocument },
        "not projecting an invalid document; the last good one keeps serving",
      );
    if (p.deleteConfigMap) {
      await this.deleteConfigMap(namespace);
      metrics.projectionBytes.remove({ namespace });
    } else if (p.configMap) {
      const written = await this.options.core.patchNamespacedConfigMap(
        {
          name: configMapName,
          namespace,
          body: p.configMap,
          fieldManager: STATUS_WRITERS.reconciler.fieldManager,
          force: true,
        },
        SERVER_SIDE_APPLY,
      );
      metrics.writes.inc({ kind: "configmap" });
      const version = written.metadata?.resourceVersion;
      if (version) this.options.ownWrite?.(namespace, configMapName, "ConfigMap", version);
      metrics.projectionBytes.set({ namespace }, p.documentBytes);
      this.options.log.info(
        {
          namespace,
          configMap: configMapName,
          revision: p.revision,
          flags: p.projected,
          reason: "Projected",
        },
        "projected flags ConfigMap",
      );
    }

    const eventsByFlag = new Map<string, PlannedEvent[]>();
    for (const event of p.events) {
      const id = flagId(event.flag);
      eventsByFlag.set(id, [...(eventsByFlag.get(id) ?? []), event]);
    }
    for (const patch of p.statusPatches) {
      const id = flagId(patch.flag);
      this.overlay.set(id, enqueueStatus(this.pending, patch, eventsByFlag.get(id) ?? []));
      eventsByFlag.delete(id);
    }
    // Events without a status change (rare: a problem already recorded) go out on their own.
    for (const events of eventsByFlag.values())
      for (const event of events) void this.recordEvent(queuedEvent(event));
    this.startWriters();
    return p.requeueAfterMs === undefined ? {} : { requeueAfterMs: p.requeueAfterMs };
  }

  private async previousDocument(
    namespace: string,
    configMap: ProjectedConfigMap | undefined,
  ): Promise<FlagDocument | undefined> {
    const known = this.lastDocuments.get(namespace);
    if (known || !configMap?.revision) return known;
    try {
      const cm = await this.options.core.readNamespacedConfigMap({
        name: this.options.configMapName,
        namespace,
      });
      const text = cm.data?.[DOCUMENT_KEY];
      return text === undefined ? undefined : parseDocument(text);
    } catch (error) {
      this.options.log.warn(
        { namespace, reason: "LastDocumentUnreadable", err: (error as Error).message },
        "could not read the projected document; flags with broken targeting are left out",
      );
      return undefined;
    }
  }

  /** Resolves once every planned status write has finished (tests, shutdown). */
  async flushed(): Promise<void> {
    if (this.writers === 0 && this.pending.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** The cache has a new version of the flag (or lost it): a planned status for it is history. */
  observed(flag: FeatureFlag, deleted = false): void {
    const id = flagId(flag);
    const planned = this.overlay.get(id);
    if (planned && (deleted || planned.baseVersion !== flag.metadata.resourceVersion))
      this.overlay.delete(id);
  }

  private withOverlay(flag: FeatureFlag): FeatureFlag {
    const id = flagId(flag);
    const planned = this.overlay.get(id);
    if (!planned) return flag;
    if (planned.baseVersion !== flag.metadata.resourceVersion) {
      // The cache moved on (our write, or someone else's): it is the truth again.
      this.overlay.delete(id);
      return flag;
    }
    return { ...flag, status: mergeOwned(flag.status, planned.status, STATUS_WRITERS.reconciler) };
  }

  private startWriters(): void {
    this.options.metrics.statusWritesPending.set(this.pending.size + this.writers);
    while (this.writers < STATUS_WRITE_CONCURRENCY && this.pending.size > 0) {
      this.writers++;
      void this.drain().finally(() => {
        this.writers--;
        this.options.metrics.statusWritesPending.set(this.pending.size + this.writers);
        if (this.writers === 0 && this.pending.size === 0) {
          for (const resolve of this.idleWaiters.splice(0)) resolve();
        }
      });
    }
  }

  private async drain(): Promise<void> {
    for (const [id, item] of this.pending) {
      this.pending.delete(id);
      try {
        await this.writeStatus(item);
      } catch (error) {
        if (this.overlay.get(id) === item) this.overlay.delete(id);
        const err = error as { code?: number; message?: string };
        this.options.log.warn(
          {
            flag: item.name,
            namespace: item.namespace,
            reason: err.code === 409 ? "Conflict" : "StatusWriteFailed",
            code: err.code,
            err: err.message,
          },
          "status write failed; reconciling the namespace again",
        );
        this.options.retry?.(item.namespace);
        continue;
      }
      for (const event of item.events) void this.recordEvent(event);
    }
  }

  private async writeStatus({
    namespace,
    name,
    baseVersion,
    status,
    fromPhase,
  }: PendingStatus): Promise<void> {
    // Conditional on the resourceVersion: the plugin or another writer may have written meanwhile.
    const written = (await applyStatus(
      this.options.custom,
      { metadata: { name, namespace } },
      status as Record<string, unknown>,
      { fieldManager: STATUS_WRITERS.reconciler.fieldManager, ifResourceVersion: baseVersion },
    )) as KubernetesObject | undefined;
    this.options.metrics.writes.inc({ kind: "status" });
    const version = written?.metadata?.resourceVersion;
    if (version) this.options.ownWrite?.(namespace, name, "FeatureFlag", version);
    if (fromPhase !== status.phase) {
      this.options.log.info(
        {
          flag: status.key,
          namespace,
          phase: status.phase,
          from: fromPhase,
          reason: "PhaseChanged",
        },
        "flag phase changed",
      );
    }
  }

  private async recordEvent(event: QueuedEvent): Promise<void> {
    const { flag, key } = event;
    if (event.rollbackReason) {
      this.options.metrics.rollbacks.inc({
        namespace: flag.metadata?.namespace ?? "",
        flag: key,
        reason: event.rollbackReason,
      });
    }
    try {
      await createEvent(this.options.core, flag, event, this.options.identity);
      this.options.metrics.writes.inc({ kind: "event" });
    } catch (error) {
      this.options.log.warn(
        { flag: key, namespace: flag.metadata?.namespace, err: (error as Error).message },
        "could not record event",
      );
    }
  }

  private async deleteConfigMap(namespace: string): Promise<void> {
    const { core, configMapName, log } = this.options;
    try {
      await core.deleteNamespacedConfigMap({ name: configMapName, namespace });
      this.options.metrics.writes.inc({ kind: "configmap" });
      log.info({ namespace, configMap: configMapName, reason: "NoFlags" }, "deleted flags ConfigMap");
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
    }
  }
}

export async function createEvent(
  core: CoreV1Api,
  object: KubernetesObject,
  event: { type: "Normal" | "Warning"; reason: string; message: string },
  identity: string,
): Promise<void> {
  const now = new Date();
  await core.createNamespacedEvent({
    namespace: object.metadata?.namespace ?? "default",
    body: {
      metadata: { generateName: `${object.metadata?.name}.`, namespace: object.metadata?.namespace },
      involvedObject: {
        apiVersion: object.apiVersion,
        kind: object.kind,
        name: object.metadata?.name,
        namespace: object.metadata?.namespace,
        uid: object.metadata?.uid,
        resourceVersion: object.metadata?.resourceVersion,
      },
      type: event.type,
      reason: event.reason,
      message: event.message,
      source: { component: "flagwright" },
      reportingComponent: "flagwright.dev/operator",
      reportingInstance: identity,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    },
  });
}
