// One tick of a canary ramp: what the spec, clock and controls fix for the tick (Ramp, Tick), where
// the ramp stands when the tick begins (restart or resume), the analysis check it counts, and the
// moves every transition shares (roll back, complete, advance, requeue).

import type { Condition, FeatureFlagStatus } from "../../api/index.js";
import { CONDITION_ANALYSIS_UNAVAILABLE, findCondition } from "./conditions.js";
import {
  type Analysis,
  type AnalysisOutcome,
  analysisIntervalMs,
  type Controls,
  durationMs,
  fmtPercent,
  type HoldReason,
  iso,
  parseTimeMs,
  type RampState,
  type Rollback,
  type RolloutEvent,
  type RolloutInput,
  type RolloutOptions,
  type Steps,
} from "./types.js";

/** The phases in which status describes a ramp this generation can resume. */
const RAMP_PHASES: ReadonlySet<string> = new Set(["Progressing", "Paused", "Completed", "RolledBack"]);

/** What the spec, the clock and the controls fix for a whole tick. */
export interface Ramp {
  readonly steps: Steps;
  readonly target: number;
  readonly analysis: Analysis | undefined;
  readonly generation: number;
  readonly now: number;
  readonly nowDate: Date;
  /** Index of the last step. */
  readonly last: number;
  readonly failureLimit: number;
  readonly onFailure: "rollback" | "pause";
  readonly controls: Controls;
  readonly options: RolloutOptions | undefined;
  readonly previousConditions: readonly Condition[] | undefined;
}

/** The ramp plus what this tick's analysis check says; the transitions' input. */
export interface Tick extends Ramp {
  /** The check counted in this tick (undefined when none was fed, or a replay changed its result). */
  readonly outcome: AnalysisOutcome | undefined;
  readonly failures: number;
  /** The consecutive failures reached spec.rollout.canary.analysis.failureLimit. */
  readonly failing: boolean;
  /** Analysis is configured and its last check could not read its data. */
  readonly unavailable: boolean;
  /** When an outage rolls back (rollbackAfterUnavailableMs), if one is under way. */
  readonly outage: { since: number; limit: number; deadline: number } | undefined;
}

/** What a transition decides: the next state, the events to emit, and when to look again. */
export interface Move {
  state: RampState;
  events: RolloutEvent[];
  holdReason?: HoldReason;
  requeueAfterMs?: number;
}

export function rampOf(
  canary: { steps: Steps; analysis?: Analysis },
  target: number,
  input: RolloutInput,
  previous: FeatureFlagStatus,
): Ramp {
  const analysis = canary.analysis;
  return {
    steps: canary.steps,
    target,
    analysis,
    generation: input.generation,
    now: input.now.getTime(),
    nowDate: input.now,
    last: canary.steps.length - 1,
    failureLimit: analysis?.failureLimit ?? 1,
    onFailure: analysis?.onFailure ?? "rollback",
    controls: previous.controls ?? {},
    options: input.options,
    previousConditions: previous.conditions,
  };
}

export function stepPercent(ramp: Ramp, i: number): number {
  return ramp.steps[i]?.percent ?? ramp.target;
}

/** "step 2/3 (50%)", for events and conditions. */
export function where(ramp: Ramp, s: RampState): string {
  return `step ${(s.index ?? 0) + 1}/${ramp.steps.length} (${fmtPercent(s.percent)})`;
}

/**
 * Where the ramp stands as the tick begins: resumed from status, or planned again from step 0 for a
 * new generation.
 */
export function startingState(
  ramp: Ramp,
  prev: FeatureFlagStatus,
): { state: RampState; events: RolloutEvent[] } {
  const events: RolloutEvent[] = [];
  const sameGeneration = prev.observedGeneration === ramp.generation;
  const state =
    !sameGeneration || prev.phase === undefined || !RAMP_PHASES.has(prev.phase)
      ? restart(ramp, prev, sameGeneration, events)
      : resume(ramp, prev);
  return { state, events };
}

/** A new generation (or no usable status): plan from step 0 without dropping users already in. */
function restart(
  ramp: Ramp,
  prev: FeatureFlagStatus,
  sameGeneration: boolean,
  events: RolloutEvent[],
): RampState {
  const serving =
    prev.phase === "Progressing" || prev.phase === "Paused" || prev.phase === "Completed"
      ? (prev.currentPercent ?? 0)
      : 0;
  const s: RampState = {
    phase: "Progressing",
    percent: 0,
    ...(prev.rollback && { rollback: prev.rollback }),
    ...(prev.lastAnalysis && { lastAnalysis: { ...prev.lastAnalysis, consecutiveFailures: 0 } }),
  };
  if (serving >= ramp.target && serving > 0) {
    // A lower (or equal) target takes effect at once: ramps only ever go up.
    if (serving > ramp.target) {
      events.push({
        type: "Normal",
        reason: "TargetDecreased",
        message: `target lowered from ${fmtPercent(serving)} to ${fmtPercent(ramp.target)}: in effect at once`,
      });
    }
    return complete(ramp, s);
  }
  // Steps below what is already served are behind us; hold the highest of them (serving the
  // current percent) for its pause, so every increase still waits for a pause and analysis.
  let index = 0;
  ramp.steps.forEach((step, i) => {
    if (step.percent <= serving) index = i;
  });
  s.index = index;
  s.percent = Math.max(stepPercent(ramp, index), serving);
  s.stepStartedAt = ramp.now;
  events.push({
    type: "Normal",
    reason:
      prev.phase === undefined || (sameGeneration && !RAMP_PHASES.has(prev.phase))
        ? "RolloutStarted"
        : "RolloutRestarted",
    message: `generation ${ramp.generation}: canary at ${where(ramp, s)}, target ${fmtPercent(ramp.target)}`,
  });
  return s;
}

/** The same generation: carry on from status, clamped to the steps the spec has. */
function resume(ramp: Ramp, prev: FeatureFlagStatus): RampState {
  const phase = prev.phase as RampState["phase"];
  const s: RampState = {
    phase,
    percent: prev.currentPercent ?? 0,
    ...(prev.rollback && { rollback: prev.rollback }),
    ...(prev.lastAnalysis && { lastAnalysis: prev.lastAnalysis }),
  };
  const index = Math.min(Math.max(prev.currentStepIndex ?? 0, 0), ramp.last);
  s.index = index;
  if (phase === "Completed") {
    s.percent = ramp.target;
    s.index = ramp.last;
  } else if (phase === "RolledBack") {
    s.percent = 0;
  } else {
    s.percent = Math.max(prev.currentPercent ?? stepPercent(ramp, index), 0);
  }
  const started = parseTimeMs(prev.stepStartedAt);
  if (started !== undefined) s.stepStartedAt = started;
  else if (phase === "Progressing" || phase === "Paused") s.stepStartedAt = ramp.now;
  return s;
}

/**
 * Counts this tick's analysis check into lastAnalysis (once per check time: a retried reconcile
 * feeding the same check must not count it twice), and derives the tick's verdicts from it.
 */
export function countAnalysis(
  ramp: Ramp,
  s: RampState,
  input: AnalysisOutcome | undefined,
): { state: RampState; tick: Tick; events: RolloutEvent[] } {
  const events: RolloutEvent[] = [];
  let state = s;
  let outcome: AnalysisOutcome | undefined;
  if (input) {
    const at = iso((input.at ?? ramp.nowDate).getTime());
    if (s.lastAnalysis?.at === at) {
      if (s.lastAnalysis.result === input.result) outcome = input;
    } else {
      const before = s.lastAnalysis?.consecutiveFailures ?? 0;
      const consecutiveFailures =
        input.result === "Failed" ? before + 1 : input.result === "Passed" ? 0 : before;
      state = {
        ...s,
        lastAnalysis: {
          at,
          result: input.result,
          message: input.message.slice(0, 4000),
          consecutiveFailures,
        },
      };
      outcome = input;
      if (input.result === "Failed" && consecutiveFailures < ramp.failureLimit) {
        events.push({
          type: "Warning",
          reason: "AnalysisFailed",
          message: `${input.message} (${consecutiveFailures}/${ramp.failureLimit} consecutive failures)`,
        });
      }
    }
  }
  return { state, tick: tickOf(ramp, state, outcome), events };
}

function tickOf(ramp: Ramp, s: RampState, outcome: AnalysisOutcome | undefined): Tick {
  const failures = s.lastAnalysis?.result === "Failed" ? (s.lastAnalysis.consecutiveFailures ?? 0) : 0;
  const unavailable = ramp.analysis !== undefined && s.lastAnalysis?.result === "Unavailable";
  const limit = ramp.options?.rollbackAfterUnavailableMs;
  let outage: Tick["outage"];
  if (unavailable && limit !== undefined) {
    const condition = findCondition(ramp.previousConditions, CONDITION_ANALYSIS_UNAVAILABLE);
    const since =
      (condition?.status === "True" ? parseTimeMs(condition.lastTransitionTime) : undefined) ?? ramp.now;
    outage = { since, limit, deadline: since + limit };
  }
  return { ...ramp, outcome, failures, failing: failures >= ramp.failureLimit, unavailable, outage };
}

/** Rolls back to 0 %, recording why in status.rollback and in a Warning event. */
export function rollBack(
  ramp: Ramp,
  s: RampState,
  record: Omit<Rollback, "stepIndex" | "percent" | "at"> & { at: number },
): Move {
  const at = Math.max(record.at, s.stepStartedAt ?? -Infinity);
  const rollback: Rollback = { ...record, at: iso(at), stepIndex: s.index ?? 0, percent: s.percent };
  const event: RolloutEvent = {
    type: "Warning",
    reason: "RolledBack",
    message: `rolled back to 0% from ${where(ramp, s)}: ${rollbackCause(record)}: ${record.message}`.slice(
      0,
      1000,
    ),
  };
  return { state: { ...s, phase: "RolledBack", percent: 0, rollback, stepStartedAt: at }, events: [event] };
}

function rollbackCause(record: Omit<Rollback, "stepIndex" | "percent" | "at">): string {
  switch (record.reason) {
    case "Alert":
      return `alert ${record.alertName ?? "(unnamed)"} firing`;
    case "Query":
      return `query value ${record.value ?? "?"} above threshold`;
    case "Manual":
      return "manual abort";
    case "Cohort":
      return "flag-on users fail more than flag-off users";
    default:
      return "analysis unavailable";
  }
}

export function complete(ramp: Ramp, s: RampState): RampState {
  return { ...s, phase: "Completed", percent: ramp.target, index: ramp.last };
}

/** The next step (the last one at most), never lowering what is served. */
export function advanceFrom(ramp: Ramp, s: RampState, startAt: number): RampState {
  const index = Math.min((s.index ?? 0) + 1, ramp.last);
  return {
    ...s,
    index,
    percent: Math.max(stepPercent(ramp, index), s.percent),
    stepStartedAt: Math.max(startAt, s.stepStartedAt ?? -Infinity),
  };
}

export function pauseEnd(ramp: Ramp, s: RampState): number {
  return (s.stepStartedAt ?? ramp.now) + durationMs(ramp.steps[s.index ?? 0]?.pause);
}

/** When to look again: the pause's end, the next analysis, or the outage deadline, whichever first. */
export function requeueAfter(
  ramp: Ramp,
  s: RampState,
  holdReason: HoldReason | undefined,
  outageDeadline: number | undefined,
): number | undefined {
  const candidates: number[] = [];
  const { now } = ramp;
  const started = s.stepStartedAt ?? now;
  if (s.phase === "Progressing" && !holdReason) {
    // A zero pause still needs the clock to move past the step's start (one tick).
    candidates.push(Math.max(pauseEnd(ramp, s) - now, started >= now ? 1 : 0));
  }
  if (ramp.analysis) {
    const interval = analysisIntervalMs(ramp.analysis);
    const last = parseTimeMs(s.lastAnalysis?.at);
    const due = last === undefined || last <= started ? now : last + interval;
    // Same tick as the step start: one millisecond later, so the check lands inside the step.
    // A check already due is the analysis loop's to run, and it enqueues the flag with the
    // outcome: look again after an interval, not at once (0 would make the operator reconcile
    // in a tight loop that never waits for the check).
    candidates.push(started >= now ? Math.max(due - now, 1) : due > now ? due - now : interval);
  }
  if (outageDeadline !== undefined) candidates.push(Math.max(outageDeadline - now, 0));
  return candidates.length ? Math.min(...candidates) : undefined;
}
