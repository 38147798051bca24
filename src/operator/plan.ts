// The reconcile of one namespace as a pure plan: from the namespace's flags (spec, status, manual
// controls, recorded analysis outcomes and pushed alerts) and the projected ConfigMap's revision,
// compute the ConfigMap to write (or none), the reconciler's part of each flag's status that
// differs from what the API server holds, the Events worth recording and when to look again.
// No I/O: the executor (reconciler.ts) performs the writes, tests call plan() directly.
import type { V1ConfigMap } from "@kubernetes/client-node";
import { setCondition } from "../api/conditions.js";
import {
  type Condition,
  type FeatureFlag,
  type FeatureFlagSpec,
  type FeatureFlagStatus,
  flagKey,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  type Segment,
} from "../api/index.js";
import { mergeOwned, ownedPart, ROLLOUT_OWNERSHIP, STATUS_WRITERS } from "../api/ownership.js";
import {
  completeDocument,
  nextScheduledChange,
  resolveTargeting,
  type TargetingResolution,
} from "../api/targeting.js";
import {
  buildDocument,
  canonicalJson,
  DOCUMENT_KEY,
  type FlagDocument,
  flagRevision,
  parseDocument,
  type ResolvedFlag,
  sameCanonicalJson,
} from "../core/index.js";
import { decide, type RolloutDecision, type RolloutEvent, type RolloutOptions } from "../rollout/steps.js";
import { pendingOutcomes } from "./recorded-outcome.js";

export { pendingOutcomes } from "./recorded-outcome.js";

/** Data bytes a ConfigMap may hold (1 MiB) less headroom for the key and encoding. */
export const MAX_DOCUMENT_BYTES = 1_000_000;
export const REVISION_ANNOTATION = "flagwright.dev/revision";

/** What the operator knows of the namespace's projected ConfigMap (the cache keeps no data). */
export interface ProjectedConfigMap {
  /** Revision of the document in data (undefined when missing or unreadable). */
  revision?: string;
  /** Carries the managed-by label. */
  managed: boolean;
  /** Owner references left by older versions (one per flag), which a write removes. */
  ownerReferences: number;
}

export interface NamespaceState {
  namespace: string;
  configMapName: string;
  flags: readonly FeatureFlag[];
  configMap?: ProjectedConfigMap;
  /** The namespace's Segments, for the rules that name them. */
  segments?: readonly Segment[];
  /**
   * The document last projected, when known: a flag whose targeting has a problem keeps serving
   * its last good version from it (the executor provides it where any flag uses targeting).
   */
  previousDocument?: FlagDocument;
  rollout?: RolloutOptions;
}

export interface StatusPatch {
  flag: FeatureFlag;
  /** The reconciler's part of status only (STATUS_WRITERS.reconciler). */
  status: FeatureFlagStatus;
  /** The status as the API server will hold it once applied (for the executor's overlay). */
  merged: FeatureFlagStatus;
}

export interface PlannedEvent extends RolloutEvent {
  flag: FeatureFlag;
  key: string;
  /** For flagwright_rollbacks_total. */
  rollbackReason?: string;
}

export interface NamespacePlan {
  /** The ConfigMap to apply; undefined when the projected one is current. */
  configMap?: V1ConfigMap;
  /** No flags left: delete the ConfigMap. */
  deleteConfigMap: boolean;
  revision: string;
  projected: number;
  documentBytes: number;
  statusPatches: StatusPatch[];
  events: PlannedEvent[];
  requeueAfterMs?: number;
  /** Why the document was not written: sidecars would refuse it (the last good one keeps serving). */
  invalidDocument?: string;
  /** The document planned (written, or already projected), for the next plan's previousDocument. */
  document: FlagDocument;
}

interface Entry {
  flag: FeatureFlag;
  key: string;
  decision: RolloutDecision;
  problem?: { reason: string; message: string };
  /** When a rule reading `now` may next change the flag's answers (status.nextScheduledChange). */
  nextChange?: Date;
}

const byCreation = (a: FeatureFlag, b: FeatureFlag) =>
  String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)) ||
  (a.metadata.name ?? "").localeCompare(b.metadata.name ?? "");

export function plan(state: NamespaceState, now: Date): NamespacePlan {
  const flags = state.flags.filter((f) => !f.metadata.deletionTimestamp).sort(byCreation);
  const entries: Entry[] = flags.map((flag) => ({
    flag,
    key: flagKey(flag),
    decision: decideWithRecordedAnalysis(flag, now, state.rollout),
  }));

  // Targeting (rules, segments, prerequisites) is resolved for the namespace as a whole.
  const specs = new Map<string, FeatureFlagSpec>();
  for (const entry of entries) if (!specs.has(entry.key)) specs.set(entry.key, entry.flag.spec);
  const segments = new Map((state.segments ?? []).map((s) => [s.metadata.name ?? "", s.spec] as const));
  const targeting = resolveTargeting(specs, segments);
  for (const entry of entries) entry.nextChange = nextScheduledChange(entry.flag.spec, segments, now);
  const previous = state.previousDocument;

  const { resolved, owners, bytes } = projectFirstComeFirstServed(entries, targeting, previous);
  const completed = completeDocument(resolved, targeting.segments, previous?.segments);
  for (const entry of entries) {
    const problem = completed.dropped.get(entry.key);
    if (problem && owners.get(entry.key) === entry) {
      entry.problem = problem;
      owners.delete(entry.key);
    }
  }
  const document = buildDocument(state.namespace, resolved, undefined, completed.segments);
  const invalidDocument = documentProblem(document);
  const current = state.configMap;
  const upToDate =
    current?.revision === document.revision && current.managed && current.ownerReferences === 0;
  const result: NamespacePlan = {
    deleteConfigMap: entries.length === 0 && current !== undefined,
    revision: document.revision,
    projected: owners.size,
    documentBytes: bytes,
    statusPatches: [],
    events: [],
    document,
    ...(invalidDocument !== undefined && { invalidDocument }),
  };
  // Sidecars refuse a document they cannot parse: never write one.
  if (entries.length > 0 && !upToDate && invalidDocument === undefined) {
    result.configMap = configMapBody(state, document, now);
  }

  for (const entry of entries) addFlagOutcome(result, entry, state.configMapName, resolved, now);
  return result;
}

/**
 * First come (by key, then creation) first served: a duplicate key or a flag that would push the
 * document past the ConfigMap limit is left out and told why (entry.problem).
 */
function projectFirstComeFirstServed(
  entries: Entry[],
  targeting: TargetingResolution,
  previous: FlagDocument | undefined,
): { resolved: Record<string, ResolvedFlag>; owners: Map<string, Entry>; bytes: number } {
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
    const flag = resolveTargetedFlag(entry, targeting, previous);
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
  return { resolved, owners, bytes };
}

/** The flag's status patch and Events, and the earliest time the namespace needs looking at again. */
function addFlagOutcome(
  result: NamespacePlan,
  entry: Entry,
  configMapName: string,
  resolved: Record<string, ResolvedFlag>,
  now: Date,
): void {
  // The flag's own revision, not the document's: one flag's change must not rewrite the status
  // of every other flag in the namespace.
  const revision = entry.problem ? "" : (resolved[entry.key]?.revision ?? "");
  const patch = statusPatch(entry, configMapName, revision, now);
  if (patch) result.statusPatches.push(patch);
  result.events.push(...eventsFor(entry));
  const next = entry.decision.requeueAfterMs;
  if (next !== undefined && (result.requeueAfterMs === undefined || next < result.requeueAfterMs))
    result.requeueAfterMs = next;
  // Come back when a scheduled change has happened, to show the one after it.
  const scheduled = entry.nextChange && entry.nextChange.getTime() - now.getTime() + 1000;
  if (scheduled && (result.requeueAfterMs === undefined || scheduled < result.requeueAfterMs))
    result.requeueAfterMs = scheduled;
}

/**
 * The flag with its resolved targeting. With a targeting problem (a missing segment, a rule that
 * does not compile, a prerequisite cycle) an enabled flag keeps serving its last good version, or
 * is left out when there is none.
 */
function resolveTargetedFlag(
  entry: Entry,
  targeting: TargetingResolution,
  previous: FlagDocument | undefined,
): ResolvedFlag | undefined {
  const { flag, decision } = entry;
  const problem = targeting.problems.get(entry.key);
  if (problem) {
    entry.problem = problem;
    if (flag.spec.enabled && !decision.killed) return previous?.flags[entry.key];
    return resolveFlag(flag, decision);
  }
  return resolveFlag(flag, decision, targeting);
}

function documentProblem(document: FlagDocument): string | undefined {
  try {
    parseDocument(JSON.stringify(document));
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The flag as the namespace's document serves it: spec, with the decided percent and kill switch. */
export function resolveFlag(
  flag: FeatureFlag,
  decision: RolloutDecision,
  targeting?: TargetingResolution,
): ResolvedFlag {
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
  const key = flagKey(flag);
  if (targeting) Object.assign(content, targeting.targeting.get(key));
  // The segments a flag names are part of what it serves: a segment change is a new flag revision.
  const used = [...new Set((content.rules ?? []).flatMap((r) => r.segments ?? []))].sort();
  const revisionOf = used.length
    ? { ...content, segments: Object.fromEntries(used.map((n) => [n, targeting?.segments[n]])) }
    : content;
  return { ...content, revision: flagRevision(revisionOf) };
}

/** decide() fed each pending outcome in turn (a poll and a push may both be new). */
function decideWithRecordedAnalysis(flag: FeatureFlag, now: Date, options?: RolloutOptions): RolloutDecision {
  const input = { spec: flag.spec, generation: flag.metadata.generation ?? 0, now, options };
  const outcomes = pendingOutcomes(flag.status);
  let status = flag.status;
  let decision = decide({ ...input, status, ...(outcomes[0] && { analysis: outcomes[0] }) });
  const events = [...decision.events];
  for (const analysis of outcomes.slice(1)) {
    status = mergeOwned(status, decision.status, ROLLOUT_OWNERSHIP);
    decision = decide({ ...input, status, analysis });
    events.push(...decision.events);
  }
  return { ...decision, events };
}

function configMapBody(
  state: NamespaceState,
  document: ReturnType<typeof buildDocument>,
  now: Date,
): V1ConfigMap {
  // No ownerReferences: one per flag outgrew etcd's request limit at a few thousand flags. The
  // operator deletes the ConfigMap when the namespace's last flag goes, the namespace's deletion
  // takes it too, and the managed-by label finds it.
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: state.configMapName,
      namespace: state.namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, "app.kubernetes.io/name": "flagwright" },
      annotations: { [REVISION_ANNOTATION]: document.revision },
    },
    data: { [DOCUMENT_KEY]: JSON.stringify({ ...document, generatedAt: now.toISOString() }) },
  };
}

function statusPatch(
  entry: Entry,
  configMapName: string,
  revision: string,
  now: Date,
): StatusPatch | undefined {
  const { flag, decision, problem } = entry;
  const current = flag.status ?? {};
  const next: FeatureFlagStatus = { ...decision.status, key: entry.key };
  if (entry.nextChange) next.nextScheduledChange = entry.nextChange.toISOString();
  let conditions: Condition[] = next.conditions ?? [];
  const observedGeneration = flag.metadata.generation;
  const previousReady = current.conditions?.find((c) => c.type === "Ready");
  if (problem) {
    for (const type of ["Ready", "Degraded"]) {
      conditions = setCondition(
        [...conditions, ...(type === "Ready" && previousReady ? [previousReady] : [])],
        {
          type,
          status: type === "Ready" ? "False" : "True",
          reason: problem.reason,
          message: problem.message,
          observedGeneration,
        },
        now,
      );
    }
  } else {
    const message = `projected to ConfigMap ${configMapName} (revision ${revision})`;
    conditions = setCondition(
      [...conditions, ...(previousReady ? [previousReady] : [])],
      { type: "Ready", status: "True", reason: "Projected", message, observedGeneration },
      now,
    );
    const sameProjection =
      current.projection?.revision === revision && current.projection?.configMap === configMapName;
    next.projection =
      sameProjection && current.projection?.at
        ? current.projection
        : { configMap: configMapName, revision, at: now.toISOString() };
  }
  next.conditions = conditions;
  if (sameStatus(ownedPart(current, STATUS_WRITERS.reconciler), next)) return undefined;
  return { flag, status: next, merged: mergeOwned(current, next, STATUS_WRITERS.reconciler) };
}

/** Equal as the API server would hold them (condition order is not significant). */
function sameStatus(a: FeatureFlagStatus, b: FeatureFlagStatus): boolean {
  const normal = (s: FeatureFlagStatus) => ({
    ...s,
    conditions: [...(s.conditions ?? [])].sort((x, y) => x.type.localeCompare(y.type)),
  });
  return sameCanonicalJson(normal(a), normal(b));
}

function eventsFor(entry: Entry): PlannedEvent[] {
  const { flag, decision, problem, key } = entry;
  const fresh = flag.status?.phase === undefined;
  // A new flag without a canary is not news (10,000 creates must not make 10,000 Events); phase
  // changes of a ramp, rollbacks, kills and problems are.
  const events = decision.events.filter(
    (e) =>
      !(fresh && !flag.spec.rollout?.canary && (e.reason === "RolloutCompleted" || e.reason === "Disabled")),
  );
  if (problem && flag.status?.conditions?.find((c) => c.type === "Ready")?.reason !== problem.reason) {
    events.push({ type: "Warning", reason: problem.reason, message: problem.message });
  }
  return events.map((event) => ({
    ...event,
    flag,
    key,
    ...(event.reason === "RolledBack" && {
      rollbackReason: decision.status.rollback?.reason ?? "Unknown",
    }),
  }));
}
