// Executes the plan of one namespace (plan.ts): the ConfigMap first, so a change reaches sidecars
// without waiting for anything else; then the reconciler's part of each flag's status and the
// Events, handed to a separate writer so they never hold the namespace (or a rollback queued behind
// it). Until the cache shows a written status, the status it will hold stands in for it (the
// overlay), so a reconcile in between plans neither the same write nor the same Events again.
import {
  type CoreV1Api,
  type CustomObjectsApi,
  type KubernetesObject,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { FeatureFlag, FeatureFlagStatus, Segment } from "../api/index.js";
import { STATUS_WRITERS } from "../api/ownership.js";
import { DOCUMENT_KEY, type FlagDocument, parseDocument } from "../core/index.js";
import type { RolloutOptions } from "../rollout/steps.js";
import type { OperatorMetrics } from "./metrics.js";
import { type PlannedEvent, type ProjectedConfigMap, plan, type StatusPatch } from "./plan.js";
import { applyStatus } from "./status.js";

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

const ssa = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);

const flagId = (flag: FeatureFlag) => `${flag.metadata.namespace}/${flag.metadata.name}`;

export class NamespaceReconciler {
  /** Planned statuses not yet seen in the cache, by flag, with the resourceVersion they replace. */
  private readonly overlay = new Map<string, { baseVersion?: string; status: FeatureFlagStatus }>();
  private readonly pending: { patch: StatusPatch; events: PlannedEvent[] }[] = [];
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
        ssa,
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
      this.overlay.set(id, { baseVersion: patch.flag.metadata.resourceVersion, status: patch.merged });
      this.pending.push({ patch, events: eventsByFlag.get(id) ?? [] });
      eventsByFlag.delete(id);
    }
    // Events without a status change (rare: a problem already recorded) go out on their own.
    for (const events of eventsByFlag.values()) for (const event of events) void this.recordEvent(event);
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
    if (this.writers === 0 && this.pending.length === 0) return;
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
    return { ...flag, status: planned.status };
  }

  private startWriters(): void {
    this.options.metrics.statusWritesPending.set(this.pending.length + this.writers);
    while (this.writers < STATUS_WRITE_CONCURRENCY && this.pending.length > 0) {
      this.writers++;
      void this.drain().finally(() => {
        this.writers--;
        this.options.metrics.statusWritesPending.set(this.pending.length + this.writers);
        if (this.writers === 0 && this.pending.length === 0) {
          for (const resolve of this.idleWaiters.splice(0)) resolve();
        }
      });
    }
  }

  private async drain(): Promise<void> {
    for (let item = this.pending.shift(); item; item = this.pending.shift()) {
      const { patch, events } = item;
      const { flag } = patch;
      try {
        await this.writeStatus(patch);
      } catch (error) {
        this.overlay.delete(flagId(flag));
        const err = error as { code?: number; message?: string };
        this.options.log.warn(
          {
            flag: flag.metadata.name,
            namespace: flag.metadata.namespace,
            reason: err.code === 409 ? "Conflict" : "StatusWriteFailed",
            code: err.code,
            err: err.message,
          },
          "status write failed; reconciling the namespace again",
        );
        this.options.retry?.(flag.metadata.namespace ?? "");
        continue;
      }
      for (const event of events) void this.recordEvent(event);
    }
  }

  private async writeStatus({ flag, status }: StatusPatch): Promise<void> {
    // Conditional on the resourceVersion: the plugin or another writer may have written meanwhile.
    const written = (await applyStatus(this.options.custom, flag, status as Record<string, unknown>, {
      fieldManager: STATUS_WRITERS.reconciler.fieldManager,
      ifResourceVersion: flag.metadata.resourceVersion,
    })) as KubernetesObject | undefined;
    this.options.metrics.writes.inc({ kind: "status" });
    const version = written?.metadata?.resourceVersion;
    if (version) {
      this.options.ownWrite?.(
        flag.metadata.namespace ?? "",
        flag.metadata.name ?? "",
        "FeatureFlag",
        version,
      );
    }
    const from = flag.status?.phase;
    if (from !== status.phase) {
      this.options.log.info(
        {
          flag: status.key,
          namespace: flag.metadata.namespace,
          phase: status.phase,
          from,
          reason: "PhaseChanged",
        },
        "flag phase changed",
      );
    }
  }

  private async recordEvent(event: PlannedEvent): Promise<void> {
    const { flag, key } = event;
    if (event.rollbackReason) {
      this.options.metrics.rollbacks.inc({
        namespace: flag.metadata.namespace ?? "",
        flag: key,
        reason: event.rollbackReason,
      });
    }
    try {
      await createEvent(this.options.core, flag, event, this.options.identity);
      this.options.metrics.writes.inc({ kind: "event" });
    } catch (error) {
      this.options.log.warn(
        { flag: key, namespace: flag.metadata.namespace, err: (error as Error).message },
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
