// The canary's transitions, after Argo Rollouts' canary reconcile: small pure functions from the
// ramp's state and the tick to a move, tried in order; the first that applies decides the tick.
// The order is the policy: a retry first reopens a rolled back ramp; then a manual abort beats
// everything, rollbacks beat a promotion, a promotion beats the holds, and a step advances only
// when nothing holds it.

import {
  advanceFrom,
  complete,
  countAnalysis,
  type Move,
  pauseEnd,
  type Ramp,
  requeueAfter,
  rollBack,
  startingState,
  stepPercent,
  type Tick,
  where,
} from "./ramp.js";
import type { HoldReason, RampState, RolloutInput } from "./types.js";
import { parseTimeMs } from "./types.js";

/** One transition: the move it makes, or undefined when it does not apply to this tick. */
export type Transition = (s: RampState, tick: Tick) => Move | undefined;

/**
 * retry: after a rollback, a retry newer than the rollback restarts from the first step; the
 * reopened ramp then goes through this tick's transitions like any other.
 */
function retryAfterRollback(s: RampState, ramp: Ramp): Move | undefined {
  const retry = ramp.controls.retry;
  const retryAt = parseTimeMs(retry?.at);
  if (s.phase !== "RolledBack" || retryAt === undefined) return undefined;
  if (!(retryAt > (parseTimeMs(s.rollback?.at) ?? -Infinity))) return undefined;
  const restarted: RampState = {
    ...s,
    phase: "Progressing",
    index: 0,
    percent: stepPercent(ramp, 0),
    stepStartedAt: Math.max(ramp.now, retryAt, s.stepStartedAt ?? -Infinity),
    lastAnalysis: s.lastAnalysis && { ...s.lastAnalysis, consecutiveFailures: 0 },
  };
  const message = `retry by ${retry?.by ?? "unknown"}: restarting the canary at ${where(ramp, restarted)}`;
  return { state: restarted, events: [{ type: "Normal", reason: "RolloutRetried", message }] };
}

/** abort: a manual rollback requested after the current step began. */
const abortOnRequest: Transition = (s, tick) => {
  const abort = tick.controls.abort;
  const abortAt = parseTimeMs(abort?.at);
  if (abortAt === undefined || !(abortAt > (s.stepStartedAt ?? -Infinity))) return undefined;
  return rollBack(tick, s, {
    reason: "Manual",
    message: `aborted by ${abort?.by ?? "unknown"}${abort?.reason ? `: ${abort.reason}` : ""}`,
    at: Math.max(tick.now, abortAt),
  });
};

/** failure rollback: the analysis failed failureLimit times in a row and onFailure is rollback. */
const rollBackOnFailure: Transition = (s, tick) => {
  if (!tick.failing || tick.onFailure !== "rollback") return undefined;
  const { outcome, analysis, failures, failureLimit } = tick;
  const reason = outcome?.reason ?? (analysis?.alerts?.length ? "Alert" : "Query");
  return rollBack(tick, s, {
    reason,
    message: `${s.lastAnalysis?.message ?? "analysis failed"} (${failures} consecutive failed check${failures === 1 ? "" : "s"}, limit ${failureLimit})`,
    ...(outcome?.alertName !== undefined && { alertName: outcome.alertName }),
    ...(outcome?.query !== undefined && { query: outcome.query }),
    ...(outcome?.value !== undefined && Number.isFinite(outcome.value) && { value: outcome.value }),
    ...(outcome === undefined && reason === "Query" && analysis?.query && { query: analysis.query.promql }),
    at: tick.now,
  });
};

/** outage rollback: the analysis has been unavailable for rollbackAfterUnavailableMs. */
const rollBackOnOutage: Transition = (s, tick) => {
  const { outage, now } = tick;
  if (outage === undefined || now < outage.deadline) return undefined;
  return rollBack(tick, s, {
    reason: "AnalysisUnavailable",
    message: `analysis unavailable for ${Math.round((now - outage.since) / 1000)}s (limit ${Math.round(outage.limit / 1000)}s): ${s.lastAnalysis?.message ?? ""}`,
    at: now,
  });
};

/**
 * promote: a human override of pause and analysis, honoured once per request. A full promotion
 * (or one from the last step) completes; otherwise the next step starts, still subject to holds.
 */
const promoteOnRequest: Transition = (s, tick) => {
  const promote = tick.controls.promote;
  const promoteAt = parseTimeMs(promote?.at);
  if (promoteAt === undefined || !(promoteAt > (s.stepStartedAt ?? -Infinity))) return undefined;
  const by = promote?.by ?? "unknown";
  if (promote?.full || (s.index ?? 0) >= tick.last) {
    return {
      state: complete(tick, s),
      events: [{ type: "Normal", reason: "Promoted", message: `promoted by ${by} to the target` }],
    };
  }
  const promoted = advanceFrom(tick, s, Math.max(tick.now, promoteAt));
  const settled = firstMove(AFTER_PROMOTION, promoted, tick);
  return {
    ...settled,
    events: [
      { type: "Normal", reason: "Promoted", message: `promoted by ${by} to ${where(tick, promoted)}` },
      ...settled.events,
    ],
  };
};

/** Stays at the current step in `phase`, saying why. */
function hold(s: RampState, tick: Tick, phase: RampState["phase"], holdReason: HoldReason | undefined): Move {
  const state = { ...s, phase };
  return {
    state,
    events: [],
    ...(holdReason && { holdReason }),
    requeueAfterMs: requeueAfter(tick, state, holdReason, tick.outage?.deadline),
  };
}

/** hold on failure: failing with onFailure pause holds the step (phase Paused). */
const holdOnFailure: Transition = (s, tick) =>
  tick.failing
    ? hold(s, tick, "Paused", {
        reason: "AnalysisFailed",
        message: `holding ${where(tick, s)}: ${s.lastAnalysis?.message ?? "analysis failed"}`,
      })
    : undefined;

/** hold while paused: status.controls.paused is set. */
const holdWhilePaused: Transition = (s, tick) => {
  const paused = tick.controls.paused;
  if (paused == null) return undefined;
  return hold(s, tick, "Paused", {
    reason: "Paused",
    message: `paused by ${paused.by ?? "unknown"} at ${where(tick, s)}${paused.reason ? `: ${paused.reason}` : ""}`,
  });
};

/** hold while killed: the kill switch serves off; the ramp does not move under it. */
const holdWhileKilled: Transition = (s, tick) =>
  tick.controls.killed != null
    ? hold(s, tick, "Progressing", {
        reason: "Killed",
        message: `holding ${where(tick, s)} while the kill switch is on`,
      })
    : undefined;

/** hold while unavailable: no analysis data, so no verdict to advance on. */
const holdWhileUnavailable: Transition = (s, tick) =>
  tick.unavailable
    ? hold(s, tick, "Progressing", {
        reason: "AnalysisUnavailable",
        message: `holding ${where(tick, s)}: ${s.lastAnalysis?.message ?? "analysis unavailable"}`,
      })
    : undefined;

/** The pause is over (and the clock moved past the step's start). */
function pauseOver(s: RampState, tick: Tick): boolean {
  const started = s.stepStartedAt ?? tick.now;
  return tick.now > started && tick.now >= pauseEnd(tick, s);
}

/** A check that ran during the current step, if any. */
function checkedThisStep(s: RampState, tick: Tick): number | undefined {
  const checkedAt = parseTimeMs(s.lastAnalysis?.at);
  return checkedAt !== undefined && checkedAt > (s.stepStartedAt ?? tick.now) ? checkedAt : undefined;
}

/** advance: the pause is over and (with analysis) a check during the step passed. */
const advanceStep: Transition = (s, tick) => {
  if (!pauseOver(s, tick)) return undefined;
  const analysisOk =
    tick.analysis === undefined ||
    (s.lastAnalysis?.result === "Passed" && checkedThisStep(s, tick) !== undefined);
  if (!analysisOk) return undefined;
  if ((s.index ?? 0) >= tick.last) return { state: complete(tick, s), events: [] };
  const next: RampState = { ...advanceFrom(tick, s, tick.now), phase: "Progressing" };
  return {
    state: next,
    events: [{ type: "Normal", reason: "StepAdvanced", message: `advanced to ${where(tick, next)}` }],
    requeueAfterMs: requeueAfter(tick, next, undefined, undefined),
  };
};

/** wait for analysis: the pause is over but no passing check ran during the step yet. */
const waitForAnalysis: Transition = (s, tick) => {
  if (!pauseOver(s, tick)) return undefined;
  const result = s.lastAnalysis?.result;
  return hold(s, tick, "Progressing", {
    reason: "WaitingForAnalysis",
    message: `pause over at ${where(tick, s)}; waiting for a passing analysis during this step${result && checkedThisStep(s, tick) !== undefined ? ` (last: ${result})` : ""}`,
  });
};

/** keep ramping: nothing to do but wait for the pause to end. */
const keepRamping: Transition = (s, tick) => hold(s, tick, "Progressing", undefined);

const HOLDS: readonly Transition[] = [holdOnFailure, holdWhilePaused, holdWhileKilled, holdWhileUnavailable];

/** After a partial promotion the holds still apply, but the step does not advance again. */
const AFTER_PROMOTION: readonly Transition[] = [...HOLDS, keepRamping];

/** The transitions of a ramp in progress, in order of precedence. */
export const TRANSITIONS: readonly Transition[] = [
  abortOnRequest,
  rollBackOnFailure,
  rollBackOnOutage,
  promoteOnRequest,
  ...HOLDS,
  advanceStep,
  waitForAnalysis,
  keepRamping,
];

function firstMove(transitions: readonly Transition[], s: RampState, tick: Tick): Move {
  for (const transition of transitions) {
    const move = transition(s, tick);
    if (move) return move;
  }
  // keepRamping ends every list and always applies.
  throw new Error("no transition applied");
}

/**
 * One tick of a ramp: where it stands (restart or resume, then a retry); a settled ramp (rolled
 * back or completed) stays put; otherwise count the analysis check and let the first transition
 * decide.
 */
export function runRamp(
  ramp: Ramp,
  input: RolloutInput,
  previous: NonNullable<RolloutInput["status"]>,
): Move {
  const start = startingState(ramp, previous);
  const retried = retryAfterRollback(start.state, ramp);
  const state = retried?.state ?? start.state;
  const opening = retried ? [...start.events, ...retried.events] : start.events;
  if (state.phase === "RolledBack" || state.phase === "Completed") return { state, events: opening };
  const counted = countAnalysis(ramp, state, input.analysis);
  const move = firstMove(TRANSITIONS, counted.state, counted.tick);
  return { ...move, events: [...opening, ...counted.events, ...move.events] };
}
