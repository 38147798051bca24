// Status conditions by the Kubernetes convention, with the one setter every writer of status uses
// (the step machine, the planner, the experiment loop).

import type { Condition } from "./index.js";

/**
 * Sets a condition by type, keeping lastTransitionTime when the status does not change (the
 * Kubernetes convention: it records when the status flipped, not when it was last written).
 */
export function setCondition(
  conditions: readonly Condition[],
  next: Omit<Condition, "lastTransitionTime">,
  now: Date,
): Condition[] {
  const existing = conditions.find((c) => c.type === next.type);
  const lastTransitionTime =
    existing && existing.status === next.status && existing.lastTransitionTime
      ? existing.lastTransitionTime
      : now.toISOString();
  const condition: Condition = { ...next, lastTransitionTime };
  return existing
    ? conditions.map((c) => (c.type === next.type ? condition : c))
    : [...conditions, condition];
}
