// What the dashboard's pages show, computed from FeatureFlag objects: pure functions (the clock is
// passed in), so the server only adds I/O and the unit tests cover every rule here.
import { type FeatureFlag, flagKey } from "../api/index.js";
import type { ExperimentResult } from "../experiment/analysis.js";
import type { Reference, RefsReport } from "../hygiene/refs.js";
import { debtOf } from "../hygiene/stale.js";

// The Flags page's filter lives in the page's own script, so the browser runs the tested code.
export { type FlagFilter, filterFlags } from "./static/filter.js";

/** One line of the Flags page. */
export interface FlagRow {
  namespace: string;
  name: string;
  key: string;
  owner: string;
  description: string;
  enabled: boolean;
  /** status.phase, "Paused (analysis)" when analysis holds it, "Pending" before the first reconcile. */
  phase: string;
  currentPercent: number | null;
  targetPercent: number;
  /** "2/4" for a canary with a step in force, else null. */
  step: string | null;
  lastAnalysis: { result: string; at: string | null; message: string | null } | null;
  rollbackReason: string | null;
  killed: boolean;
  paused: boolean;
  stale: { reason: string; message: string; ageMs: number } | null;
  hasExperiment: boolean;
  resourceVersion: string;
}

export function flagRow(flag: FeatureFlag, now: Date): FlagRow {
  const s = flag.status ?? {};
  const controls = s.controls ?? {};
  const steps = flag.spec.rollout?.canary?.steps;
  let phase: string = s.phase ?? "Pending";
  if (phase === "Paused" && !controls.paused) phase = "Paused (analysis)";
  const debt = debtOf(flag, now);
  return {
    namespace: flag.metadata.namespace ?? "",
    name: flag.metadata.name ?? "",
    key: flagKey(flag),
    owner: flag.spec.owner ?? "",
    description: flag.spec.description ?? "",
    enabled: flag.spec.enabled,
    phase,
    currentPercent: s.currentPercent ?? null,
    targetPercent: flag.spec.rollout?.percent ?? 100,
    step: steps && s.currentStepIndex !== undefined ? `${s.currentStepIndex + 1}/${steps.length}` : null,
    lastAnalysis: s.lastAnalysis?.result
      ? {
          result: s.lastAnalysis.result,
          at: s.lastAnalysis.at ?? null,
          message: s.lastAnalysis.message ?? null,
        }
      : null,
    rollbackReason: s.phase === "RolledBack" && s.rollback ? rollbackCause(s.rollback) : null,
    killed: controls.killed != null,
    paused: controls.paused != null,
    stale: debt.stale ? { reason: debt.reason, message: debt.message, ageMs: debt.ageMs } : null,
    hasExperiment: flag.spec.experiment !== undefined,
    resourceVersion: flag.metadata.resourceVersion ?? "",
  };
}

type Rollback = NonNullable<NonNullable<FeatureFlag["status"]>["rollback"]>;

/** "Alert HighErrorRate", "Query value 0.12", "Manual: <message>": what caused the rollback. */
export function rollbackCause(r: Rollback): string {
  const what = r.alertName ?? (r.value !== undefined ? `value ${r.value}` : undefined);
  const head = [r.reason ?? "Unknown", what].filter(Boolean).join(" ");
  return r.message ? `${head}: ${r.message}` : head;
}

/** Rows in the order people scan them: namespace, then key. */
export function sortRows(rows: readonly FlagRow[]): FlagRow[] {
  return [...rows].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.key.localeCompare(b.key));
}

export interface StepView {
  index: number;
  percent: number;
  pause: string | null;
  state: "done" | "current" | "pending" | "failed";
  /** When the step began (only known for the one in force). */
  startedAt: string | null;
}

export interface TimelineEvent {
  at: string | null;
  kind: "rollout" | "analysis" | "alert" | "rollback" | "control" | "condition" | "projection" | "event";
  title: string;
  detail: string;
  /** For colouring: good news, bad news, a person's action, or plain information. */
  tone: "ok" | "bad" | "person" | "info";
}

export interface Timeline {
  steps: StepView[];
  events: TimelineEvent[];
}

const CONTROL_TITLES = {
  killed: "Killed",
  paused: "Paused",
  promote: "Promote requested",
  abort: "Abort requested",
  retry: "Retry requested",
} as const;

/** The fields of a core/v1 Event the timeline reads (the client gives times as Date objects). */
export interface FlagEvent {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  eventTime?: Date | string;
  firstTimestamp?: Date | string;
  lastTimestamp?: Date | string;
  metadata?: { resourceVersion?: string };
}

const iso = (t: Date | string | undefined) => (t === undefined ? null : new Date(t).toISOString());

/**
 * The rollout as the status tells it: the canary's steps (done, in force, to come, or where it
 * failed), then every dated record, oldest first: analysis checks, pushed alerts, the rollback
 * and its cause, manual controls with who asked, conditions, the projection, and the operator's
 * Kubernetes Events for the flag (its history: each step advanced, analysis failure, rollback),
 * which status alone forgets.
 */
export function buildTimeline(flag: FeatureFlag, flagEvents: readonly FlagEvent[] = []): Timeline {
  const s = flag.status ?? {};
  // Records with the same time keep this order.
  const events: TimelineEvent[] = [
    ...rolloutEvents(flag),
    ...analysisEvents(s),
    ...rollbackEvents(s),
    ...controlEvents(s),
    ...conditionEvents(s),
    ...projectionEvents(s),
    ...kubernetesEvents(flagEvents),
  ];
  // Undated records last; dated ones by time (ISO strings of one format sort as times do).
  events.sort((a, b) => (a.at === b.at ? 0 : a.at === null ? 1 : b.at === null ? -1 : a.at < b.at ? -1 : 1));
  return { steps: stepViews(flag), events };
}

type Status = NonNullable<FeatureFlag["status"]>;

/** The canary's steps: done, in force, to come, or where it failed. */
function stepViews(flag: FeatureFlag): StepView[] {
  const s = flag.status ?? {};
  const current = s.currentStepIndex ?? -1;
  return (flag.spec.rollout?.canary?.steps ?? []).map((step, index) => {
    let state: StepView["state"] = "pending";
    if (s.phase === "Completed" || index < current) state = "done";
    else if (index === current) state = "current";
    if (s.phase === "RolledBack" && index === (s.rollback?.stepIndex ?? current)) state = "failed";
    return {
      index,
      percent: step.percent,
      pause: step.pause ?? null,
      state,
      startedAt: index === current ? (s.stepStartedAt ?? null) : null,
    };
  });
}

/** The step in force and the served state's last change. */
function rolloutEvents(flag: FeatureFlag): TimelineEvent[] {
  const s = flag.status ?? {};
  const canary = flag.spec.rollout?.canary;
  const current = s.currentStepIndex ?? -1;
  const events: TimelineEvent[] = [];
  if (s.stepStartedAt && canary && current >= 0) {
    events.push({
      at: s.stepStartedAt,
      kind: "rollout",
      title: `Step ${current + 1}/${canary.steps.length} started`,
      detail: `serving ${s.currentPercent ?? 0}%`,
      tone: "info",
    });
  }
  if (s.effectiveSince) {
    events.push({
      at: s.effectiveSince,
      kind: "rollout",
      title: "Served state changed",
      detail: `${s.phase ?? "Pending"} at ${s.currentPercent ?? 0}%`,
      tone: "info",
    });
  }
  return events;
}

function projectionEvents(s: Status): TimelineEvent[] {
  if (!s.projection?.at) return [];
  return [
    {
      at: s.projection.at,
      kind: "projection",
      title: `Projected to ${s.projection.configMap ?? "ConfigMap"}`,
      detail: s.projection.revision ? `revision ${s.projection.revision}` : "",
      tone: "info",
    },
  ];
}

const resultTone = (result: string | undefined): TimelineEvent["tone"] =>
  result === "Passed" ? "ok" : result === "Failed" ? "bad" : "info";

/** The last analysis, the analysis loop's last check and the last pushed alert. */
function analysisEvents(s: Status): TimelineEvent[] {
  const events: TimelineEvent[] = [];
  if (s.lastAnalysis?.result) {
    const a = s.lastAnalysis;
    events.push({
      at: a.at ?? null,
      kind: "analysis",
      title: `Analysis ${a.result}${a.consecutiveFailures ? ` (${a.consecutiveFailures} consecutive failures)` : ""}`,
      detail: a.message ?? "",
      tone: resultTone(a.result),
    });
  }
  for (const [record, source] of [
    [s.analysisOutcome, "Analysis loop check"],
    [s.pushedAlert, "Alertmanager push"],
  ] as const) {
    if (!record?.result) continue;
    const cause = record.alertName ?? record.query;
    events.push({
      at: record.at ?? null,
      kind: source === "Alertmanager push" ? "alert" : "analysis",
      title: `${source}: ${record.result}`,
      detail: [cause, record.value !== undefined ? `value ${record.value}` : undefined, record.message]
        .filter(Boolean)
        .join(" · "),
      tone: resultTone(record.result),
    });
  }
  return events;
}

function rollbackEvents(s: Status): TimelineEvent[] {
  const r = s.rollback;
  if (!r) return [];
  const where = r.stepIndex !== undefined ? ` at step ${r.stepIndex + 1}` : "";
  return [
    {
      at: r.at ?? null,
      kind: "rollback",
      title: `Rolled back to 0%${where}${r.percent !== undefined ? ` (was ${r.percent}%)` : ""}`,
      detail: [rollbackCause(r), r.query ? `query: ${r.query}` : undefined].filter(Boolean).join(" · "),
      tone: "bad",
    },
  ];
}

/** Manual controls in force, with who asked. */
function controlEvents(s: Status): TimelineEvent[] {
  const controls = s.controls ?? {};
  return (Object.keys(CONTROL_TITLES) as (keyof typeof CONTROL_TITLES)[]).flatMap((key) => {
    const c = controls[key] as { at?: string; by?: string; reason?: string; full?: boolean } | undefined;
    if (!c) return [];
    const parts = [`by ${c.by ?? "unknown"}`, c.reason, c.full ? "to the target" : undefined];
    return [
      {
        at: c.at ?? null,
        kind: "control",
        title: CONTROL_TITLES[key],
        detail: parts.filter(Boolean).join(" · "),
        tone: "person",
      } satisfies TimelineEvent,
    ];
  });
}

function conditionEvents(s: Status): TimelineEvent[] {
  return (s.conditions ?? []).map((c) => ({
    at: c.lastTransitionTime ?? null,
    kind: "condition",
    title: `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ""}`,
    detail: c.message ?? "",
    tone: c.type === "Degraded" && c.status === "True" ? "bad" : "info",
  }));
}

/** The operator's Kubernetes Events for the flag, in the order they happened. */
function kubernetesEvents(flagEvents: readonly FlagEvent[]): TimelineEvent[] {
  // Event times have whole seconds; within one second the order they were written in (etcd's
  // revision) is the order they happened in.
  const eventAt = (e: FlagEvent) => iso(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp) ?? "";
  const written = (e: FlagEvent) => Number(e.metadata?.resourceVersion ?? 0);
  const ordered = [...flagEvents].sort(
    (a, b) => eventAt(a).localeCompare(eventAt(b)) || written(a) - written(b),
  );
  return ordered.map((e) => ({
    at: iso(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp),
    kind: "event",
    title: e.reason ?? "Event",
    detail: `${e.message ?? ""}${(e.count ?? 1) > 1 ? ` (${e.count} times)` : ""}`,
    tone: e.type === "Warning" ? "bad" : "info",
  }));
}

/** The experiment as recorded in status, or why there is nothing to draw. */
export function experimentView(
  flag: FeatureFlag,
): { state: "none" | "waiting"; message: string } | { state: "results"; result: ExperimentResult } {
  if (!flag.spec.experiment) return { state: "none", message: "no spec.experiment" };
  const raw = flag.status?.experiment as (Partial<ExperimentResult> & { message?: string }) | undefined;
  if (!Array.isArray(raw?.variants)) {
    return { state: "waiting", message: `no results yet${raw?.message ? ` (${raw.message})` : ""}` };
  }
  return { state: "results", result: { ...(raw as ExperimentResult), method: raw.method ?? "fixed" } };
}

export interface DebtRow {
  namespace: string;
  name: string;
  key: string;
  owner: string;
  stale: boolean;
  reason: string;
  message: string;
  ageMs: number;
  /** Code references from `flagwright refs --json`; null when no report was given. */
  references: Reference[] | null;
}

/**
 * Flag debt: stale flags, and (with a refs report) flags no code references any more, plus keys
 * code evaluates that no flag defines.
 */
export function debtView(
  flags: readonly FeatureFlag[],
  refs: RefsReport | undefined,
  now: Date,
): { rows: DebtRow[]; undefinedKeys: RefsReport["undefinedKeys"]; refsGiven: boolean } {
  // The report may have been made without the cluster's flags (no --cluster), so keys it calls
  // undefined can be flags here: match references by key from both lists.
  const byKey = new Map<string, Reference[]>();
  for (const r of refs?.referenced ?? []) byKey.set(r.flag.key, r.references);
  for (const u of refs?.undefinedKeys ?? []) byKey.set(u.key, [...(byKey.get(u.key) ?? []), ...u.references]);
  const defined = new Set(flags.map(flagKey));
  const rows: DebtRow[] = [];
  for (const flag of flags) {
    const debt = debtOf(flag, now);
    const key = flagKey(flag);
    const references = refs ? (byKey.get(key) ?? []) : null;
    if (!debt.stale && !(references !== null && references.length === 0)) continue;
    rows.push({
      namespace: flag.metadata.namespace ?? "",
      name: flag.metadata.name ?? "",
      key,
      owner: flag.spec.owner ?? "",
      stale: debt.stale,
      reason: debt.stale ? debt.reason : "Unreferenced",
      message: debt.stale ? debt.message : "no code references this key",
      ageMs: debt.ageMs,
      references,
    });
  }
  rows.sort(
    (a, b) => b.ageMs - a.ageMs || a.namespace.localeCompare(b.namespace) || a.key.localeCompare(b.key),
  );
  return {
    rows,
    undefinedKeys: (refs?.undefinedKeys ?? []).filter((u) => !defined.has(u.key)),
    refsGiven: refs !== undefined,
  };
}
