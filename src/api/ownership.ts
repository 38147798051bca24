// Who writes which part of a FeatureFlag's status. Every writer applies its part with server-side
// apply under its own field manager and sends only what it owns, so no writer copies another's
// fields (and none deletes them again). The API server merges the parts; mergeOwned does the same
// in memory, for the planner's "would this write change anything" check and for tests.
import type { Condition, FeatureFlagStatus } from "./index.js";

type StatusField = keyof FeatureFlagStatus;

export interface StatusOwnership {
  fieldManager: string;
  fields: readonly StatusField[];
  conditions: readonly string[];
}

/** The rollout step machine's part (decide()); the reconciler writes it together with its own. */
export const ROLLOUT_OWNERSHIP = {
  fields: [
    "observedGeneration",
    "phase",
    "currentPercent",
    "currentStepIndex",
    "stepStartedAt",
    "effectiveSince",
    "rollback",
    "lastAnalysis",
  ],
  conditions: ["Progressing", "Degraded", "AnalysisUnavailable", "Killed"],
} as const satisfies Omit<StatusOwnership, "fieldManager">;

export const STATUS_WRITERS = {
  reconciler: {
    fieldManager: "flagwright",
    fields: [...ROLLOUT_OWNERSHIP.fields, "key", "projection", "nextScheduledChange"],
    conditions: [...ROLLOUT_OWNERSHIP.conditions, "Ready"],
  },
  analysis: {
    fieldManager: "flagwright-analysis",
    fields: ["analysisOutcome", "cohortAnalysis"],
    conditions: [],
  },
  alerts: { fieldManager: "flagwright-alerts", fields: ["pushedAlert"], conditions: [] },
  experiments: { fieldManager: "flagwright-experiments", fields: ["experiment"], conditions: ["Stale"] },
  controls: { fieldManager: "kubectl-flagwright", fields: ["controls"], conditions: [] },
} as const satisfies Record<string, StatusOwnership>;

/** Only the fields and condition types `owner` writes. */
export function ownedPart(
  status: FeatureFlagStatus | undefined,
  owner: Omit<StatusOwnership, "fieldManager">,
): FeatureFlagStatus {
  const part: Record<string, unknown> = {};
  for (const field of owner.fields) {
    if (field !== "conditions" && status?.[field] !== undefined) part[field] = status[field];
  }
  const conditions = (status?.conditions ?? []).filter((c) => owner.conditions.includes(c.type));
  if (conditions.length > 0) part.conditions = conditions;
  return part as FeatureFlagStatus;
}

/** The status after `owner` applies `owned`: its old part replaced, everyone else's kept. */
export function mergeOwned(
  status: FeatureFlagStatus | undefined,
  owned: FeatureFlagStatus,
  owner: Omit<StatusOwnership, "fieldManager">,
): FeatureFlagStatus {
  const merged: Record<string, unknown> = { ...status };
  for (const field of owner.fields) delete merged[field];
  for (const [field, value] of Object.entries(owned)) if (field !== "conditions") merged[field] = value;
  const others: Condition[] = (status?.conditions ?? []).filter((c) => !owner.conditions.includes(c.type));
  const conditions = [...others, ...(owned.conditions ?? [])];
  if (conditions.length > 0) merged.conditions = conditions;
  else delete merged.conditions;
  return merged as FeatureFlagStatus;
}
