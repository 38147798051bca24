// Reconciles one namespace, level-triggered and idempotent: from every FeatureFlag in it (spec,
// status and manual controls) compute the resolved document, write the ConfigMap with
// server-side apply when its content differs, and write each flag's status through the status
// subresource when it differs. Nothing here remembers anything between calls except caches of
// what the API server already holds.
import {
  type CoreV1Api,
  type CustomObjectsApi,
  type KubernetesObject,
  PatchStrategy,
  setHeaderOptions,
  type V1ConfigMap,
  type V1OwnerReference,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { setCondition } from "../api/conditions.js";
import {
  API_VERSION,
  type FeatureFlag,
  type FeatureFlagSpec,
  type FeatureFlagStatus,
  FIELD_MANAGER,
  flagKey,
  KIND,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  type Segment,
} from "../api/index.js";
import {
  buildDocument,
  canonicalJson,
  DOCUMENT_KEY,
  type FlagDocument,
  flagRevision,
  parseDocument,
  type ResolvedFlag,
} from "../core/index.js";
import { type AnalysisOutcome, decide, type RolloutDecision, type RolloutOptions } from "../rollout/steps.js";
import type { OperatorMetrics } from "./metrics.js";
import { applyStatus } from "./status.js";
import {
  completeDocument,
  nextScheduledChange,
  resolveTargeting,
  type TargetingResolution,
} from "./targeting.js";

/** Data bytes a ConfigMap may hold (1 MiB) less headroom for the key and encoding. */
export const MAX_DOCUMENT_BYTES = 1_000_000;
const STATUS_WRITE_CONCURRENCY = 8;

export interface ReconcilerOptions {
  core: CoreV1Api;
  custom: CustomObjectsApi;
  log: Logger;
  metrics: OperatorMetrics;
  configMapName: string;
  identity: string;
  listFlags: (namespace: string) => FeatureFlag[];
  getConfigMap: (namespace: string) => V1ConfigMap | undefined;
  /** Segments of the namespace, for the rules that name them. */
  listSegments?: (namespace: string) => Segment[];
  /** Latest analysis result per flag uid, kept by the analysis loop. */
  analysisFor?: (flag: FeatureFlag) => AnalysisOutcome | undefined;
  rollout?: RolloutOptions;
  now?: () => Date;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

const ssa = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);

interface Entry {
  flag: FeatureFlag;
  key: string;
  decision: RolloutDecision;
  problem?: { reason: string; message: string };
  /** When a rule reading `now` may next change the flag's answers (status.nextScheduledChange). */
  nextChange?: Date;
}

export class NamespaceReconciler {
  constructor(private readonly options: ReconcilerOptions) {}

  async reconcile(namespace: string): Promise<ReconcileResult> {
    const { listFlags, now = () => new Date() } = this.options;
    const at = now();
    const flags = listFlags(namespace)
      .filter((f) => !f.metadata.deletionTimestamp)
      .sort(
        (a, b) =>
          String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)) ||
          (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""),
      );

    const entries: Entry[] = flags.map((flag) => ({
      flag,
      key: flagKey(flag),
      decision: decide({
        spec: flag.spec,
        generation: flag.metadata.generation ?? 0,
        status: flag.status,
        now: at,
        analysis: this.options.analysisFor?.(flag),
        options: this.options.rollout,
      }),
    }));

    // Targeting (rules, segments, prerequisites) is resolved for the namespace as a whole.
    const specs = new Map<string, FeatureFlagSpec>();
    for (const entry of entries) if (!specs.has(entry.key)) specs.set(entry.key, entry.flag.spec);
    const segments = new Map(
      (this.options.listSegments?.(namespace) ?? []).map((s) => [s.metadata.name ?? "", s.spec] as const),
    );
    const targeting = resolveTargeting(specs, segments);
    for (const entry of entries) entry.nextChange = nextScheduledChange(entry.flag.spec, segments, at);
    const previous = lastGoodDocument(this.options.getConfigMap(namespace));

    const resolved: Record<string, ResolvedFlag> = {};
    const owners = new Map<string, Entry>();
    let bytes = 2;
    for (const entry of [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
      const first = owners.get(entry.key);
      if (first) {
        entry.problem = {
          reason: "DuplicateKey",
          message: `key "${entry.key}" is already used by FeatureFlag ${first.flag.metadata.name} in this namespace; this flag is not projected`,
        };
        continue;
      }
      const flag = resolveFlag(entry, targeting, previous);
      if (flag === undefined) continue;
      const size = Buffer.byteLength(canonicalJson({ [entry.key]: flag })) + 1;
      if (bytes + size > MAX_DOCUMENT_BYTES) {
        entry.problem = {
          reason: "DocumentTooLarge",
          message: `the namespace's flags document would exceed the ConfigMap limit (1 MiB) with this flag (${size} bytes); it is not projected. Move flags to another namespace or shorten allow-lists`,
        };
        continue;
      }
      bytes += size;
      owners.set(entry.key, entry);
      resolved[entry.key] = flag;
    }

    const completed = completeDocument(resolved, targeting.segments, previous?.segments);
    for (const entry of entries) {
      const problem = completed.dropped.get(entry.key);
      if (problem && owners.get(entry.key) === entry) entry.problem = problem;
    }
    const projected = entries.filter((e) => !e.problem);
    const document = buildDocument(namespace, resolved, undefined, completed.segments);
    const revision = document.revision;
    if (entries.length === 0) {
      await this.deleteConfigMap(namespace);
      this.options.metrics.projectionBytes.remove({ namespace });
    } else {
      // Sidecars refuse a document they cannot parse; never write one (the last good keeps serving).
      const invalid = documentProblem(document);
      if (invalid)
        this.options.log.error(
          { namespace, reason: "InvalidDocument", err: invalid },
          "not projecting an invalid document",
        );
      else await this.applyConfigMap(namespace, document, projected, at);
      this.options.metrics.projectionBytes.set({ namespace }, bytes);
    }

    let requeueAfterMs: number | undefined;
    // Status writes are independent per flag; a few at a time keeps a large namespace's first
    // reconcile from taking one round trip per flag in sequence.
    const pending = [...entries];
    const writer = async () => {
      for (let entry = pending.shift(); entry; entry = pending.shift()) {
        await this.writeStatus(entry, entry.problem ? undefined : revision, at);
        // Events are informational: recording them must not hold the namespace (and a rollback
        // queued behind it) for another round trip. recordEvents logs its own failures.
        void this.recordEvents(entry);
      }
    };
    await Promise.all(Array.from({ length: Math.min(STATUS_WRITE_CONCURRENCY, entries.length) }, writer));
    for (const entry of entries) {
      const next = entry.decision.requeueAfterMs;
      if (next !== undefined && (requeueAfterMs === undefined || next < requeueAfterMs))
        requeueAfterMs = next;
      // Come back when a scheduled change has happened, to show the one after it.
      const scheduled = entry.nextChange && entry.nextChange.getTime() - at.getTime() + 1000;
      if (scheduled && (requeueAfterMs === undefined || scheduled < requeueAfterMs))
        requeueAfterMs = scheduled;
    }
    return { requeueAfterMs };
  }

  private async applyConfigMap(
    namespace: string,
    document: ReturnType<typeof buildDocument>,
    projected: Entry[],
    at: Date,
  ): Promise<void> {
    const { core, configMapName, getConfigMap, log } = this.options;
    const current = getConfigMap(namespace);
    const currentDoc = current?.data?.[DOCUMENT_KEY];
    const ownerReferences: V1OwnerReference[] = projected.map(({ flag }) => ({
      apiVersion: API_VERSION,
      kind: KIND,
      name: flag.metadata.name ?? "",
      uid: flag.metadata.uid ?? "",
    }));
    const sameOwners =
      canonicalJson((current?.metadata?.ownerReferences ?? []).map((o) => o.uid).sort()) ===
      canonicalJson(ownerReferences.map((o) => o.uid).sort());
    if (currentDoc && sameOwners && current?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE) {
      try {
        if ((JSON.parse(currentDoc) as { revision?: string }).revision === document.revision) return;
      } catch {
        // unreadable content (edited by hand): rewrite it below
      }
    }
    const body: V1ConfigMap = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: configMapName,
        namespace,
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, "app.kubernetes.io/name": "flagwright" },
        annotations: { "flagwright.dev/revision": document.revision },
        ownerReferences,
      },
      data: { [DOCUMENT_KEY]: JSON.stringify({ ...document, generatedAt: at.toISOString() }) },
    };
    await core.patchNamespacedConfigMap(
      { name: configMapName, namespace, body, fieldManager: FIELD_MANAGER, force: true },
      ssa,
    );
    log.info(
      {
        namespace,
        configMap: configMapName,
        revision: document.revision,
        flags: projected.length,
        reason: "Projected",
      },
      current ? "updated flags ConfigMap" : "created flags ConfigMap",
    );
  }

  private async deleteConfigMap(namespace: string): Promise<void> {
    const { core, configMapName, getConfigMap, log } = this.options;
    if (!getConfigMap(namespace)) return;
    try {
      await core.deleteNamespacedConfigMap({ name: configMapName, namespace });
      log.info({ namespace, configMap: configMapName, reason: "NoFlags" }, "deleted flags ConfigMap");
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
    }
  }

  private async writeStatus(entry: Entry, revision: string | undefined, at: Date): Promise<void> {
    const { flag, decision, problem } = entry;
    const current = flag.status ?? {};
    const next: FeatureFlagStatus = { ...decision.status, key: entry.key };
    if (entry.nextChange) next.nextScheduledChange = entry.nextChange.toISOString();
    else delete next.nextScheduledChange;
    let conditions = next.conditions ?? [];
    const generation = flag.metadata.generation;
    if (problem) {
      conditions = setCondition(
        conditions,
        {
          type: "Ready",
          status: "False",
          reason: problem.reason,
          message: problem.message,
          observedGeneration: generation,
        },
        at,
      );
      conditions = setCondition(
        conditions,
        {
          type: "Degraded",
          status: "True",
          reason: problem.reason,
          message: problem.message,
          observedGeneration: generation,
        },
        at,
      );
      delete next.projection;
    } else {
      const message = `projected to ConfigMap ${this.options.configMapName} (revision ${revision})`;
      conditions = setCondition(
        conditions,
        { type: "Ready", status: "True", reason: "Projected", message, observedGeneration: generation },
        at,
      );
      const sameProjection =
        current.projection?.revision === revision &&
        current.projection?.configMap === this.options.configMapName;
      next.projection =
        sameProjection && current.projection?.at
          ? current.projection
          : { configMap: this.options.configMapName, revision, at: at.toISOString() };
    }
    next.conditions = conditions;
    // Fields other writers own (manual controls, experiment results) are never sent.
    delete next.controls;
    delete next.experiment;
    const { controls: _c, experiment: _e, ...currentOwned } = current;
    if (canonicalJson(currentOwned) === canonicalJson(next)) return;
    // Conditional on the resourceVersion: the plugin or another replica may have written meanwhile.
    await applyStatus(this.options.custom, flag, next as Record<string, unknown>, {
      fieldManager: FIELD_MANAGER,
      ifResourceVersion: flag.metadata.resourceVersion,
    });
    if (current.phase !== next.phase) {
      this.options.log.info(
        {
          flag: entry.key,
          namespace: flag.metadata.namespace,
          phase: next.phase,
          from: current.phase,
          reason: "PhaseChanged",
        },
        "flag phase changed",
      );
    }
  }

  private async recordEvents(entry: Entry): Promise<void> {
    const { flag } = entry;
    const events = [...entry.decision.events];
    if (
      entry.problem &&
      flag.status?.conditions?.find((c) => c.type === "Ready")?.reason !== entry.problem.reason
    ) {
      events.push({ type: "Warning", reason: entry.problem.reason, message: entry.problem.message });
    }
    for (const event of events) {
      if (event.reason === "RolledBack") {
        this.options.metrics.rollbacks.inc({
          namespace: flag.metadata.namespace ?? "",
          flag: entry.key,
          reason: entry.decision.status.rollback?.reason ?? "Unknown",
        });
      }
      await createEvent(this.options.core, flag, event, this.options.identity).catch((error: Error) =>
        this.options.log.warn(
          { flag: entry.key, namespace: flag.metadata.namespace, err: error.message },
          "could not record event",
        ),
      );
    }
  }
}

function documentProblem(document: FlagDocument): string | undefined {
  try {
    parseDocument(JSON.stringify(document));
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The namespace's projected document, if it is readable: the last good projection of each flag. */
function lastGoodDocument(configMap: V1ConfigMap | undefined): FlagDocument | undefined {
  const text = configMap?.data?.[DOCUMENT_KEY];
  if (text === undefined) return undefined;
  try {
    return parseDocument(text);
  } catch {
    return undefined;
  }
}

/**
 * The flag as it goes into the document. A flag whose targeting cannot be resolved gets the
 * problem and keeps its last good projection, unless it is off for everyone now (a kill still wins).
 */
function resolveFlag(
  entry: Entry,
  targeting: TargetingResolution,
  previous?: FlagDocument,
): ResolvedFlag | undefined {
  const { flag, decision } = entry;
  const problem = targeting.problems.get(entry.key);
  if (problem) {
    entry.problem = problem;
    if (flag.spec.enabled && !decision.killed) return previous?.flags[entry.key];
  }
  const content: Omit<ResolvedFlag, "revision"> = {
    enabled: flag.spec.enabled,
    killed: decision.killed,
    percent: decision.status.currentPercent ?? 0,
    allowedUsers: flag.spec.allowedUsers ?? [],
  };
  if (flag.spec.variants) {
    content.variants = flag.spec.variants.map(({ name, weight, value }) =>
      value === undefined ? { name, weight } : { name, weight, value },
    );
  }
  if (flag.spec.defaultValue !== undefined) content.defaultValue = flag.spec.defaultValue;
  if (!problem) Object.assign(content, targeting.targeting.get(entry.key));
  // The segments a flag names are part of what it serves: a segment change is a new flag revision.
  const used = [...new Set((content.rules ?? []).flatMap((r) => r.segments ?? []))].sort();
  const revisionOf = used.length
    ? { ...content, segments: Object.fromEntries(used.map((n) => [n, targeting.segments[n]])) }
    : content;
  return { ...content, revision: flagRevision(revisionOf) };
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
