// The canary step machine: a pure function from (spec, generation, previous status, clock,
// latest analysis) to the next rollout status. No I/O and no hidden state: everything it needs to
// resume after an operator restart or a leader change is in status, so any replica computes the
// same answer from the same object. Manual controls (status.controls, written by the kubectl
// plugin) are timestamps compared with the status's own timestamps, which makes them
// honoured exactly once without the machine ever writing to controls.
// The transitions live in canary/transitions.ts, the conditions table in canary/conditions.ts.

import type { FeatureFlagSpec, FeatureFlagStatus } from "../api/index.js";
import { mergeOwned, ROLLOUT_OWNERSHIP } from "../api/ownership.js";
import { sameCanonicalJson } from "../core/document.js";
import { CONDITION_KILLED, conditionsFor, findCondition, phaseEvents } from "./canary/conditions.js";
import { type Move, rampOf } from "./canary/ramp.js";
import { runRamp } from "./canary/transitions.js";
import {
  analysisIntervalMs,
  iso,
  parseTimeMs,
  type RampState,
  type RolloutDecision,
  type RolloutInput,
} from "./canary/types.js";

export {
  CONDITION_ANALYSIS_UNAVAILABLE,
  CONDITION_DEGRADED,
  CONDITION_KILLED,
  CONDITION_PROGRESSING,
  findCondition,
} from "./canary/conditions.js";
export {
  type AnalysisOutcome,
  type AnalysisResult,
  analysisIntervalMs,
  DEFAULT_ANALYSIS_INTERVAL,
  type RolloutDecision,
  type RolloutEvent,
  type RolloutInput,
  type RolloutOptions,
} from "./canary/types.js";

/**
 * True when the operator should run an analysis check before calling decide(): a canary with
 * analysis is ramping (or held) and either no check has run during the current step or the
 * interval has passed since the last one.
 */
export function analysisDue(
  spec: FeatureFlagSpec,
  status: FeatureFlagStatus | undefined,
  now: Date,
): boolean {
  const analysis = spec.rollout?.canary?.analysis;
  if (!analysis || !spec.enabled || !status) return false;
  if (status.phase !== "Progressing" && status.phase !== "Paused") return false;
  const last = parseTimeMs(status.lastAnalysis?.at);
  const started = parseTimeMs(status.stepStartedAt) ?? 0;
  if (last === undefined || last <= started) return true;
  return now.getTime() - last >= analysisIntervalMs(analysis);
}

/** Most transitions a single decision may chain (e.g. abort then a newer retry). */
const MAX_PASSES = 6;

export function decide(input: RolloutInput): RolloutDecision {
  // Controls written while the operator was away can stack up (an abort and a newer retry): apply
  // transitions until the status is a fixed point, so that feeding the result back changes nothing.
  let decision = decideOnce(input);
  const events = [...decision.events];
  for (let pass = 1; pass < MAX_PASSES; pass++) {
    const next = decideOnce({
      ...input,
      status: mergeOwned(input.status, decision.status, ROLLOUT_OWNERSHIP),
    });
    if (sameCanonicalJson(next.status, decision.status)) break;
    events.push(...next.events);
    decision = next;
  }
  return { ...decision, events };
}

function decideOnce(input: RolloutInput): RolloutDecision {
  const { spec, generation } = input;
  const now = input.now.getTime();
  const prev = input.status ?? {};
  const killedControl = prev.controls?.killed ?? undefined;
  const killed = killedControl != null;
  const target = spec.rollout?.percent ?? 100;
  const canary = spec.rollout?.canary;
  const total = canary?.steps.length ?? 0;
  const { state, events, holdReason, requeueAfterMs } = nextState(input, prev, target);

  const status = statusOf(state, generation);
  const prevKilled = findCondition(prev.conditions, CONDITION_KILLED)?.status === "True";
  status.effectiveSince = effectiveSince(prev, state, { killed, prevKilled }, now);
  status.conditions = conditionsFor(prev, {
    state,
    now,
    generation,
    killed,
    killedControl,
    analysisConfigured: canary?.analysis !== undefined,
    holdReason,
    total,
    target,
  });
  events.push(...phaseEvents(prev, state, { killed, prevKilled, control: killedControl }, total, target));
  return { status, events, killed, ...(requeueAfterMs === undefined ? {} : { requeueAfterMs }) };
}

/** The ramp's next state; a disabled flag or one without a canary keeps only its history. */
function nextState(input: RolloutInput, prev: FeatureFlagStatus, target: number): Move {
  const canary = input.spec.rollout?.canary;
  if (canary && input.spec.enabled) return runRamp(rampOf(canary, target, input, prev), input, prev);
  // A disabled canary has not started: the ramp begins at step 0 when a new generation enables it.
  const state: RampState = input.spec.enabled
    ? { phase: "Completed", percent: target }
    : { phase: "Disabled", percent: canary ? 0 : target };
  if (prev.rollback) state.rollback = prev.rollback;
  if (prev.lastAnalysis) state.lastAnalysis = prev.lastAnalysis;
  return { state, events: [] };
}

function statusOf(state: RampState, generation: number): FeatureFlagStatus {
  const status: FeatureFlagStatus = { observedGeneration: generation };
  status.phase = state.phase;
  status.currentPercent = state.percent;
  if (state.index !== undefined) status.currentStepIndex = state.index;
  if (state.stepStartedAt !== undefined) status.stepStartedAt = iso(state.stepStartedAt);
  if (state.rollback !== undefined) status.rollback = state.rollback;
  if (state.lastAnalysis !== undefined) status.lastAnalysis = state.lastAnalysis;
  return status;
}

/** effectiveSince tracks what users get (off when disabled, killed or rolled back). */
function effectiveSince(
  prev: FeatureFlagStatus,
  state: RampState,
  kill: { killed: boolean; prevKilled: boolean },
  now: number,
): string {
  const prevEffective =
    prev.phase === undefined || prev.phase === "Disabled" || kill.prevKilled ? 0 : (prev.currentPercent ?? 0);
  const effective = state.phase === "Disabled" || kill.killed ? 0 : state.percent;
  const unchanged =
    prev.effectiveSince !== undefined && prevEffective === effective && prev.phase !== undefined;
  return unchanged && prev.effectiveSince !== undefined ? prev.effectiveSince : iso(now);
}
