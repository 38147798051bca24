// The rollout's conditions and phase events, derived from the ramp's state: one table row per
// condition type the step machine owns (ROLLOUT_OWNERSHIP), each written through setCondition.

import { setCondition } from "../../api/conditions.js";
import type { Condition, FeatureFlagStatus } from "../../api/index.js";
import { ROLLOUT_OWNERSHIP } from "../../api/ownership.js";
import {
  fmtPercent,
  type HoldReason,
  type KilledControl,
  type Phase,
  type RampState,
  type RolloutEvent,
} from "./types.js";

export const CONDITION_PROGRESSING = "Progressing";
export const CONDITION_DEGRADED = "Degraded";
export const CONDITION_ANALYSIS_UNAVAILABLE = "AnalysisUnavailable";
export const CONDITION_KILLED = "Killed";

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** What the conditions are derived from. */
export interface ConditionInputs {
  state: RampState;
  now: number;
  generation: number;
  killed: boolean;
  killedControl: KilledControl;
  analysisConfigured: boolean;
  holdReason: HoldReason | undefined;
  /** Number of canary steps. */
  total: number;
  target: number;
}

type ConditionValue = Pick<Condition, "status" | "reason" | "message">;

/** Derives a condition's value; undefined leaves the condition as it is (or absent). */
type Derive = (c: ConditionInputs, previous: readonly Condition[]) => ConditionValue | undefined;

const PROGRESSING_BY_PHASE: Partial<Record<Phase, (c: ConditionInputs) => ConditionValue>> = {
  Progressing: ({ state, holdReason, total, target }) => ({
    status: "True",
    reason: holdReason?.reason ?? "StepInProgress",
    message:
      holdReason?.message ??
      `step ${(state.index ?? 0) + 1}/${total} at ${fmtPercent(state.percent)}, ramping to ${fmtPercent(target)}`,
  }),
  Paused: ({ holdReason }) => ({
    status: "False",
    reason: holdReason?.reason ?? "Paused",
    message: holdReason?.message ?? "paused",
  }),
  Completed: ({ state }) => ({
    status: "False",
    reason: "Completed",
    message: `serving ${fmtPercent(state.percent)}`,
  }),
  RolledBack: () => ({
    status: "False",
    reason: "RolledBack",
    message: "rolled back to 0%; retry or change the spec to restart",
  }),
  Disabled: () => ({ status: "False", reason: "Disabled", message: "spec.enabled is false" }),
};

const degraded: Derive = ({ state, holdReason }) => {
  if (state.phase === "RolledBack") {
    const r = state.rollback;
    const detail = r?.alertName
      ? `alert ${r.alertName}`
      : r?.query
        ? `query ${r.query.trim()}${r.value !== undefined ? ` = ${r.value}` : ""}`
        : (r?.reason ?? "");
    return {
      status: "True",
      reason: "RolledBack",
      message: `${r?.reason ?? "Rollback"}: ${detail}: ${r?.message ?? ""}`,
    };
  }
  if (holdReason?.reason === "AnalysisFailed")
    return { status: "True", reason: "AnalysisFailed", message: holdReason.message };
  return { status: "False", reason: "Healthy", message: "no failed analysis" };
};

/** Written while analysis is configured, and once more to clear it after analysis is removed. */
const analysisUnavailable: Derive = ({ state, analysisConfigured }, previous) => {
  if (!analysisConfigured && !findCondition(previous, CONDITION_ANALYSIS_UNAVAILABLE)) return undefined;
  const inRamp = state.phase === "Progressing" || state.phase === "Paused";
  if (inRamp && analysisConfigured && state.lastAnalysis?.result === "Unavailable") {
    return {
      status: "True",
      reason: "PrometheusUnavailable",
      message: state.lastAnalysis.message ?? "unavailable",
    };
  }
  return inRamp
    ? { status: "False", reason: "Available", message: "analysis data available" }
    : { status: "False", reason: "NotAnalyzing", message: "no ramp in progress" };
};

/** Written once the kill switch has been used; absent before. */
const killSwitch: Derive = ({ killed, killedControl: k }, previous) => {
  if (killed) {
    return {
      status: "True",
      reason: "KillSwitch",
      message: `killed by ${k?.by ?? "unknown"}${k?.at ? ` at ${k.at}` : ""}${k?.reason ? `: ${k.reason}` : ""}; serving off`,
    };
  }
  return findCondition(previous, CONDITION_KILLED)
    ? { status: "False", reason: "Revived", message: "kill switch off" }
    : undefined;
};

/** The step machine's conditions, in the order they are first written. */
const CONDITION_TABLE: readonly { type: string; derive: Derive }[] = [
  { type: CONDITION_PROGRESSING, derive: (c) => PROGRESSING_BY_PHASE[c.state.phase]?.(c) },
  { type: CONDITION_DEGRADED, derive: degraded },
  { type: CONDITION_ANALYSIS_UNAVAILABLE, derive: analysisUnavailable },
  { type: CONDITION_KILLED, derive: killSwitch },
];

export function conditionsFor(prev: FeatureFlagStatus, inputs: ConditionInputs): Condition[] {
  const owned: readonly string[] = ROLLOUT_OWNERSHIP.conditions;
  let conditions: Condition[] = (prev.conditions ?? [])
    .filter((c) => owned.includes(c.type))
    .map((c) => ({ ...c }));
  const now = new Date(inputs.now);
  for (const { type, derive } of CONDITION_TABLE) {
    const value = derive(inputs, conditions);
    if (value)
      conditions = setCondition(conditions, { type, ...value, observedGeneration: inputs.generation }, now);
  }
  return conditions;
}

/** Events for the kill switch flipping and for entering a new phase. */
export function phaseEvents(
  prev: FeatureFlagStatus,
  state: RampState,
  kill: { killed: boolean; prevKilled: boolean; control: KilledControl },
  total: number,
  target: number,
): RolloutEvent[] {
  const events: RolloutEvent[] = [];
  const { killed, prevKilled, control } = kill;
  if (killed && !prevKilled) {
    events.push({
      type: "Warning",
      reason: "Killed",
      message: `kill switch on (by ${control?.by ?? "unknown"}${control?.reason ? `: ${control.reason}` : ""}): serving off`,
    });
  } else if (!killed && prevKilled) {
    events.push({
      type: "Normal",
      reason: "Revived",
      message: `kill switch off: serving ${fmtPercent(state.percent)}`,
    });
  }
  if (prev.phase === state.phase) return events;
  const entered = phaseEntered(prev, state, total, target);
  if (entered) events.push(entered);
  return events;
}

function phaseEntered(
  prev: FeatureFlagStatus,
  s: RampState,
  total: number,
  target: number,
): RolloutEvent | undefined {
  switch (s.phase) {
    case "Completed":
      return {
        type: "Normal",
        reason: "RolloutCompleted",
        message: total
          ? `canary completed: serving ${fmtPercent(target)}`
          : `serving ${fmtPercent(s.percent)}`,
      };
    case "Paused":
      return { type: "Normal", reason: "RolloutPaused", message: `paused at ${fmtPercent(s.percent)}` };
    case "Progressing":
      return prev.phase === "Paused"
        ? { type: "Normal", reason: "RolloutResumed", message: `resumed at ${fmtPercent(s.percent)}` }
        : undefined;
    case "Disabled":
      return { type: "Normal", reason: "Disabled", message: "spec.enabled is false: serving off" };
    default:
      return undefined;
  }
}
