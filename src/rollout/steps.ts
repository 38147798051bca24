// The canary step machine: a pure function from (spec, generation, previous status, clock,
// latest analysis) to the next rollout status. No I/O and no hidden state: everything it needs to
// resume after an operator restart or a leader change is in status, so any replica computes the
// same answer from the same object. Manual controls (status.controls, written by the kubectl
// plugin) are timestamps compared with the status's own timestamps, which makes them
// honoured exactly once without the machine ever writing to controls.

import { isDeepStrictEqual } from "node:util";
import { parseDuration } from "../api/duration.js";
import type { FeatureFlagSpec, FeatureFlagStatus } from "../api/index.js";
import { mergeOwned, ROLLOUT_OWNERSHIP } from "../api/ownership.js";
import type { CohortProgress } from "./cohort.js";

export type AnalysisResult = "Passed" | "Failed" | "Inconclusive" | "Unavailable";

/** The verdict of one analysis check (see analysis.ts). */
export interface AnalysisOutcome {
  result: AnalysisResult;
  /** What failed: a firing alert, the query over its threshold, or the cohort comparison (cohort.ts). */
  reason?: "Alert" | "Query" | "Cohort";
  alertName?: string;
  query?: string;
  value?: number;
  message: string;
  /** When the check ran; defaults to the decision's `now`. A check is counted once per `at`. */
  at?: Date;
  /** The cohort comparison's progress in this step (cohort.ts), for status.cohortAnalysis. */
  cohortProgress?: CohortProgress;
}

export interface RolloutOptions {
  /**
   * Roll back (reason AnalysisUnavailable) once Prometheus has been unreachable this long during a
   * ramp. Undefined (the default) holds the step for as long as the outage lasts.
   */
  rollbackAfterUnavailableMs?: number;
}

export interface RolloutInput {
  spec: FeatureFlagSpec;
  generation: number;
  status?: FeatureFlagStatus;
  now: Date;
  analysis?: AnalysisOutcome;
  options?: RolloutOptions;
}

export interface RolloutEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface RolloutDecision {
  /**
   * The machine's part of the new status only (ROLLOUT_OWNERSHIP: phase, percent, step, rollback,
   * last analysis and the Progressing, Degraded, AnalysisUnavailable and Killed conditions);
   * fields other writers own are neither copied nor cleared.
   */
  status: FeatureFlagStatus;
  /** Reconcile again after this long (pause end or next analysis, whichever first). */
  requeueAfterMs?: number;
  events: RolloutEvent[];
  /** The kill switch is on: the flag serves off whatever currentPercent says. */
  killed: boolean;
}

type Phase = NonNullable<FeatureFlagStatus["phase"]>;
type Condition = NonNullable<FeatureFlagStatus["conditions"]>[number];
type Rollback = NonNullable<FeatureFlagStatus["rollback"]>;
type LastAnalysis = NonNullable<FeatureFlagStatus["lastAnalysis"]>;
type Steps = NonNullable<NonNullable<FeatureFlagSpec["rollout"]>["canary"]>["steps"];
type Analysis = NonNullable<NonNullable<NonNullable<FeatureFlagSpec["rollout"]>["canary"]>["analysis"]>;

export const DEFAULT_ANALYSIS_INTERVAL = "30s";
export const CONDITION_PROGRESSING = "Progressing";
export const CONDITION_DEGRADED = "Degraded";
export const CONDITION_ANALYSIS_UNAVAILABLE = "AnalysisUnavailable";
export const CONDITION_KILLED = "Killed";

const RAMP_PHASES: ReadonlySet<string> = new Set(["Progressing", "Paused", "Completed", "RolledBack"]);

/** Parses an RFC 3339 time; undefined for missing or unparsable text (treated as "never"). */
function ms(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Date.parse(text);
  return Number.isNaN(value) ? undefined : value;
}

const iso = (t: number) => new Date(t).toISOString();
const fmtPercent = (p: number) => `${p}%`;

function durationMs(text: string | undefined, fallback = 0): number {
  if (text === undefined) return fallback;
  try {
    return parseDuration(text);
  } catch {
    // The CRD validates durations; an unparsable one (older CRD) falls back rather than wedging.
    return fallback;
  }
}

export function analysisIntervalMs(analysis: Analysis | undefined): number {
  return durationMs(analysis?.interval, parseDuration(DEFAULT_ANALYSIS_INTERVAL)) || 1000;
}

interface State {
  phase: Phase;
  percent: number;
  index?: number;
  stepStartedAt?: number;
  rollback?: Rollback;
  lastAnalysis?: LastAnalysis;
}

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
  const last = ms(status.lastAnalysis?.at);
  const started = ms(status.stepStartedAt) ?? 0;
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
    if (isDeepStrictEqual(next.status, decision.status)) break;
    events.push(...next.events);
    decision = next;
  }
  return { ...decision, events };
}

function decideOnce(input: RolloutInput): RolloutDecision {
  const { spec, generation } = input;
  const now = input.now.getTime();
  const prev = input.status ?? {};
  const events: RolloutEvent[] = [];
  const killedControl = prev.controls?.killed ?? undefined;
  const killed = killedControl != null;
  const target = spec.rollout?.percent ?? 100;
  const canary = spec.rollout?.canary;
  const analysis = canary?.analysis;
  let requeueAfterMs: number | undefined;
  let holdReason: { reason: string; message: string } | undefined;

  let state: State;
  if (!spec.enabled) {
    // A disabled canary has not started: the ramp begins at step 0 when a new generation enables it.
    state = { phase: "Disabled", percent: canary ? 0 : target };
    keepHistory(state, prev);
  } else if (!canary) {
    state = { phase: "Completed", percent: target };
    keepHistory(state, prev);
  } else {
    const ramp = new Ramp(canary.steps, target, analysis, input, events);
    state = ramp.run(prev);
    requeueAfterMs = ramp.requeueAfterMs;
    holdReason = ramp.holdReason;
  }

  const status: FeatureFlagStatus = { observedGeneration: generation };
  status.phase = state.phase;
  status.currentPercent = state.percent;
  assignOptional(status, "currentStepIndex", state.index);
  assignOptional(
    status,
    "stepStartedAt",
    state.stepStartedAt === undefined ? undefined : iso(state.stepStartedAt),
  );
  assignOptional(status, "rollback", state.rollback);
  assignOptional(status, "lastAnalysis", state.lastAnalysis);

  // effectiveSince tracks what users get (off when disabled, killed or rolled back).
  const prevKilled = findCondition(prev.conditions, CONDITION_KILLED)?.status === "True";
  const prevEffective =
    prev.phase === undefined || prev.phase === "Disabled" || prevKilled ? 0 : (prev.currentPercent ?? 0);
  const effective = state.phase === "Disabled" || killed ? 0 : state.percent;
  if (prev.effectiveSince === undefined || prevEffective !== effective || prev.phase === undefined) {
    status.effectiveSince =
      prev.effectiveSince !== undefined && prevEffective === effective && prev.phase !== undefined
        ? prev.effectiveSince
        : iso(now);
  } else {
    status.effectiveSince = prev.effectiveSince;
  }

  status.conditions = conditionsFor(prev, state, {
    now,
    generation,
    killed,
    killedControl,
    analysisConfigured: analysis !== undefined,
    holdReason,
    total: canary?.steps.length ?? 0,
    target,
  });
  phaseEvents(prev, state, killed, prevKilled, killedControl, events, canary?.steps.length ?? 0, target);

  return { status, events, killed, ...(requeueAfterMs === undefined ? {} : { requeueAfterMs }) };
}

function keepHistory(state: State, prev: FeatureFlagStatus) {
  if (prev.rollback) state.rollback = prev.rollback;
  if (prev.lastAnalysis) state.lastAnalysis = prev.lastAnalysis;
}

function assignOptional<K extends keyof FeatureFlagStatus>(
  status: FeatureFlagStatus,
  key: K,
  value: FeatureFlagStatus[K] | undefined,
) {
  if (value === undefined) delete status[key];
  else status[key] = value;
}

class Ramp {
  requeueAfterMs: number | undefined;
  holdReason: { reason: string; message: string } | undefined;
  private readonly last: number;
  private readonly limit: number;
  private readonly onFailure: "rollback" | "pause";
  private readonly now: number;
  private outcome: AnalysisOutcome | undefined;

  constructor(
    private readonly steps: Steps,
    private readonly target: number,
    private readonly analysis: Analysis | undefined,
    private readonly input: RolloutInput,
    private readonly events: RolloutEvent[],
  ) {
    this.last = steps.length - 1;
    this.limit = analysis?.failureLimit ?? 1;
    this.onFailure = analysis?.onFailure ?? "rollback";
    this.now = input.now.getTime();
  }

  private stepPercent(i: number): number {
    return this.steps[i]?.percent ?? this.target;
  }

  private where(s: State): string {
    return `step ${(s.index ?? 0) + 1}/${this.steps.length} (${fmtPercent(s.percent)})`;
  }

  run(prev: FeatureFlagStatus): State {
    const controls = prev.controls ?? {};
    const sameGeneration = prev.observedGeneration === this.input.generation;
    let s: State;
    if (!sameGeneration || prev.phase === undefined || !RAMP_PHASES.has(prev.phase)) {
      s = this.restart(prev, sameGeneration);
    } else {
      s = this.resume(prev);
    }

    // retry: after a rollback, a retry newer than the rollback restarts from the first step.
    const retryAt = ms(controls.retry?.at);
    if (s.phase === "RolledBack" && retryAt !== undefined && retryAt > (ms(s.rollback?.at) ?? -Infinity)) {
      s = {
        ...s,
        phase: "Progressing",
        index: 0,
        percent: this.stepPercent(0),
        stepStartedAt: Math.max(this.now, retryAt, s.stepStartedAt ?? -Infinity),
        lastAnalysis: s.lastAnalysis && { ...s.lastAnalysis, consecutiveFailures: 0 },
      };
      this.events.push({
        type: "Normal",
        reason: "RolloutRetried",
        message: `retry by ${controls.retry?.by ?? "unknown"}: restarting the canary at ${this.where(s)}`,
      });
    }
    if (s.phase === "RolledBack" || s.phase === "Completed") return s;

    this.recordAnalysis(s);

    // abort: a manual rollback requested after the current step began.
    const abortAt = ms(controls.abort?.at);
    if (abortAt !== undefined && abortAt > (s.stepStartedAt ?? -Infinity)) {
      return this.rollback(s, {
        reason: "Manual",
        message: `aborted by ${controls.abort?.by ?? "unknown"}${controls.abort?.reason ? `: ${controls.abort.reason}` : ""}`,
        at: Math.max(this.now, abortAt),
      });
    }

    const failures = s.lastAnalysis?.result === "Failed" ? (s.lastAnalysis.consecutiveFailures ?? 0) : 0;
    const failing = failures >= this.limit;
    if (failing && this.onFailure === "rollback") {
      const outcome = this.outcome;
      const reason = outcome?.reason ?? (this.analysis?.alerts?.length ? "Alert" : "Query");
      return this.rollback(s, {
        reason,
        message: `${s.lastAnalysis?.message ?? "analysis failed"} (${failures} consecutive failed check${failures === 1 ? "" : "s"}, limit ${this.limit})`,
        ...(outcome?.alertName !== undefined && { alertName: outcome.alertName }),
        ...(outcome?.query !== undefined && { query: outcome.query }),
        ...(outcome?.value !== undefined && Number.isFinite(outcome.value) && { value: outcome.value }),
        ...(outcome === undefined &&
          reason === "Query" &&
          this.analysis?.query && { query: this.analysis.query.promql }),
        at: this.now,
      });
    }

    const unavailable = this.analysis !== undefined && s.lastAnalysis?.result === "Unavailable";
    const outageLimit = this.input.options?.rollbackAfterUnavailableMs;
    let outageDeadline: number | undefined;
    if (unavailable && outageLimit !== undefined) {
      const cond = findCondition(prev.conditions, CONDITION_ANALYSIS_UNAVAILABLE);
      const since = (cond?.status === "True" ? ms(cond.lastTransitionTime) : undefined) ?? this.now;
      outageDeadline = since + outageLimit;
      if (this.now >= outageDeadline) {
        return this.rollback(s, {
          reason: "AnalysisUnavailable",
          message: `analysis unavailable for ${Math.round((this.now - since) / 1000)}s (limit ${Math.round(outageLimit / 1000)}s): ${s.lastAnalysis?.message ?? ""}`,
          at: this.now,
        });
      }
    }

    // promote: a human override of pause and analysis, honoured once per request.
    const promoteAt = ms(controls.promote?.at);
    let promoted = false;
    if (promoteAt !== undefined && promoteAt > (s.stepStartedAt ?? -Infinity)) {
      promoted = true;
      const by = controls.promote?.by ?? "unknown";
      if (controls.promote?.full || (s.index ?? 0) >= this.last) {
        s = this.complete(s);
        this.events.push({ type: "Normal", reason: "Promoted", message: `promoted by ${by} to the target` });
        return s;
      }
      s = this.advance(s, Math.max(this.now, promoteAt));
      this.events.push({
        type: "Normal",
        reason: "Promoted",
        message: `promoted by ${by} to ${this.where(s)}`,
      });
    }

    if (failing) {
      s.phase = "Paused";
      this.holdReason = {
        reason: "AnalysisFailed",
        message: `holding ${this.where(s)}: ${s.lastAnalysis?.message ?? "analysis failed"}`,
      };
    } else if (controls.paused != null) {
      s.phase = "Paused";
      this.holdReason = {
        reason: "Paused",
        message: `paused by ${controls.paused.by ?? "unknown"} at ${this.where(s)}${controls.paused.reason ? `: ${controls.paused.reason}` : ""}`,
      };
    } else {
      s.phase = "Progressing";
      if (controls.killed != null) {
        this.holdReason = {
          reason: "Killed",
          message: `holding ${this.where(s)} while the kill switch is on`,
        };
      } else if (unavailable) {
        this.holdReason = {
          reason: "AnalysisUnavailable",
          message: `holding ${this.where(s)}: ${s.lastAnalysis?.message ?? "analysis unavailable"}`,
        };
      } else if (!promoted) {
        const next = this.maybeAdvance(s);
        if (next) return next;
      }
    }

    this.requeueAfterMs = this.requeue(s, outageDeadline);
    return s;
  }

  /** A new generation (or no usable status): plan from step 0 without dropping users already in. */
  private restart(prev: FeatureFlagStatus, sameGeneration: boolean): State {
    const serving =
      prev.phase === "Progressing" || prev.phase === "Paused" || prev.phase === "Completed"
        ? (prev.currentPercent ?? 0)
        : 0;
    const s: State = {
      phase: "Progressing",
      percent: 0,
      ...(prev.rollback && { rollback: prev.rollback }),
      ...(prev.lastAnalysis && { lastAnalysis: { ...prev.lastAnalysis, consecutiveFailures: 0 } }),
    };
    if (serving >= this.target && serving > 0) {
      // A lower (or equal) target takes effect at once: ramps only ever go up.
      const done = this.complete(s);
      if (serving > this.target) {
        this.events.push({
          type: "Normal",
          reason: "TargetDecreased",
          message: `target lowered from ${fmtPercent(serving)} to ${fmtPercent(this.target)}: in effect at once`,
        });
      }
      return done;
    }
    // Steps below what is already served are behind us; hold the highest of them (serving the
    // current percent) for its pause, so every increase still waits for a pause and analysis.
    let index = 0;
    this.steps.forEach((step, i) => {
      if (step.percent <= serving) index = i;
    });
    s.index = index;
    s.percent = Math.max(this.stepPercent(index), serving);
    s.stepStartedAt = this.now;
    this.events.push({
      type: "Normal",
      reason:
        prev.phase === undefined || (sameGeneration && !RAMP_PHASES.has(prev.phase))
          ? "RolloutStarted"
          : "RolloutRestarted",
      message: `generation ${this.input.generation}: canary at ${this.where(s)}, target ${fmtPercent(this.target)}`,
    });
    return s;
  }

  private resume(prev: FeatureFlagStatus): State {
    const phase = prev.phase as Phase;
    const s: State = {
      phase,
      percent: prev.currentPercent ?? 0,
      ...(prev.rollback && { rollback: prev.rollback }),
      ...(prev.lastAnalysis && { lastAnalysis: prev.lastAnalysis }),
    };
    const index = Math.min(Math.max(prev.currentStepIndex ?? 0, 0), this.last);
    s.index = index;
    if (phase === "Completed") {
      s.percent = this.target;
      s.index = this.last;
    } else if (phase === "RolledBack") {
      s.percent = 0;
    } else {
      s.percent = Math.max(prev.currentPercent ?? this.stepPercent(index), 0);
    }
    const started = ms(prev.stepStartedAt);
    if (started !== undefined) s.stepStartedAt = started;
    else if (phase === "Progressing" || phase === "Paused") s.stepStartedAt = this.now;
    return s;
  }

  private recordAnalysis(s: State) {
    const outcome = this.input.analysis;
    if (!outcome) return;
    const at = iso((outcome.at ?? this.input.now).getTime());
    // The same check fed twice (a retried reconcile) must not count twice.
    if (s.lastAnalysis?.at === at) {
      if (s.lastAnalysis.result === outcome.result) this.outcome = outcome;
      return;
    }
    const before = s.lastAnalysis?.consecutiveFailures ?? 0;
    const consecutiveFailures =
      outcome.result === "Failed" ? before + 1 : outcome.result === "Passed" ? 0 : before;
    s.lastAnalysis = {
      at,
      result: outcome.result,
      message: outcome.message.slice(0, 4000),
      consecutiveFailures,
    };
    this.outcome = outcome;
    if (outcome.result === "Failed" && consecutiveFailures < this.limit) {
      this.events.push({
        type: "Warning",
        reason: "AnalysisFailed",
        message: `${outcome.message} (${consecutiveFailures}/${this.limit} consecutive failures)`,
      });
    }
  }

  private rollback(s: State, record: Omit<Rollback, "stepIndex" | "percent" | "at"> & { at: number }): State {
    const at = Math.max(record.at, s.stepStartedAt ?? -Infinity);
    const rollback: Rollback = {
      ...record,
      at: iso(at),
      stepIndex: s.index ?? 0,
      percent: s.percent,
    };
    const what =
      record.reason === "Alert"
        ? `alert ${record.alertName ?? "(unnamed)"} firing`
        : record.reason === "Query"
          ? `query value ${record.value ?? "?"} above threshold`
          : record.reason === "Manual"
            ? "manual abort"
            : record.reason === "Cohort"
              ? "flag-on users fail more than flag-off users"
              : "analysis unavailable";
    this.events.push({
      type: "Warning",
      reason: "RolledBack",
      message: `rolled back to 0% from ${this.where(s)}: ${what}: ${record.message}`.slice(0, 1000),
    });
    return { ...s, phase: "RolledBack", percent: 0, rollback, stepStartedAt: at };
  }

  private complete(s: State): State {
    return { ...s, phase: "Completed", percent: this.target, index: this.last };
  }

  private advance(s: State, startAt: number): State {
    const index = Math.min((s.index ?? 0) + 1, this.last);
    return {
      ...s,
      index,
      percent: Math.max(this.stepPercent(index), s.percent),
      stepStartedAt: Math.max(startAt, s.stepStartedAt ?? -Infinity),
    };
  }

  private pauseEnd(s: State): number {
    return (s.stepStartedAt ?? this.now) + durationMs(this.steps[s.index ?? 0]?.pause);
  }

  /** Steps advance when time has passed (at least the pause) and a check during the step passed. */
  private maybeAdvance(s: State): State | undefined {
    const started = s.stepStartedAt ?? this.now;
    const timeOk = this.now > started && this.now >= this.pauseEnd(s);
    const checkedAt = ms(s.lastAnalysis?.at);
    const analysisOk =
      this.analysis === undefined ||
      (s.lastAnalysis?.result === "Passed" && checkedAt !== undefined && checkedAt > started);
    if (!timeOk || !analysisOk) {
      if (timeOk) {
        const result = s.lastAnalysis?.result;
        this.holdReason = {
          reason: "WaitingForAnalysis",
          message: `pause over at ${this.where(s)}; waiting for a passing analysis during this step${result && checkedAt !== undefined && checkedAt > started ? ` (last: ${result})` : ""}`,
        };
      }
      return undefined;
    }
    if ((s.index ?? 0) >= this.last) {
      const done = this.complete(s);
      return done;
    }
    const next = this.advance(s, this.now);
    this.events.push({ type: "Normal", reason: "StepAdvanced", message: `advanced to ${this.where(next)}` });
    next.phase = "Progressing";
    this.requeueAfterMs = this.requeue(next, undefined);
    return next;
  }

  private requeue(s: State, outageDeadline: number | undefined): number | undefined {
    const candidates: number[] = [];
    const started = s.stepStartedAt ?? this.now;
    if (s.phase === "Progressing" && !this.holdReason) {
      // A zero pause still needs the clock to move past the step's start (one tick).
      candidates.push(Math.max(this.pauseEnd(s) - this.now, started >= this.now ? 1 : 0));
    }
    if (this.analysis) {
      const interval = analysisIntervalMs(this.analysis);
      const last = ms(s.lastAnalysis?.at);
      const due = last === undefined || last <= started ? this.now : last + interval;
      // Same tick as the step start: one millisecond later, so the check lands inside the step.
      // A check already due is the analysis loop's to run, and it enqueues the flag with the
      // outcome: look again after an interval, not at once (0 would make the operator reconcile
      // in a tight loop that never waits for the check).
      candidates.push(
        started >= this.now ? Math.max(due - this.now, 1) : due > this.now ? due - this.now : interval,
      );
    }
    if (outageDeadline !== undefined) candidates.push(Math.max(outageDeadline - this.now, 0));
    return candidates.length ? Math.min(...candidates) : undefined;
  }
}

export function findCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

function setCondition(
  conditions: Condition[],
  next: Omit<Condition, "lastTransitionTime">,
  now: number,
): void {
  const i = conditions.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? conditions[i] : undefined;
  const lastTransitionTime =
    prev && prev.status === next.status && prev.lastTransitionTime ? prev.lastTransitionTime : iso(now);
  const condition: Condition = { ...next, lastTransitionTime };
  if (i >= 0) conditions[i] = condition;
  else conditions.push(condition);
}

function conditionsFor(
  prev: FeatureFlagStatus,
  s: State,
  ctx: {
    now: number;
    generation: number;
    killed: boolean;
    killedControl: NonNullable<FeatureFlagStatus["controls"]>["killed"] | undefined;
    analysisConfigured: boolean;
    holdReason: { reason: string; message: string } | undefined;
    total: number;
    target: number;
  },
): Condition[] {
  const owned: readonly string[] = ROLLOUT_OWNERSHIP.conditions;
  const conditions = (prev.conditions ?? []).filter((c) => owned.includes(c.type)).map((c) => ({ ...c }));
  const { now, generation } = ctx;
  const set = (type: string, status: Condition["status"], reason: string, message: string) =>
    setCondition(conditions, { type, status, reason, message, observedGeneration: generation }, now);
  const step = `step ${(s.index ?? 0) + 1}/${ctx.total}`;

  switch (s.phase) {
    case "Progressing":
      set(
        CONDITION_PROGRESSING,
        "True",
        ctx.holdReason?.reason ?? "StepInProgress",
        ctx.holdReason?.message ??
          `${step} at ${fmtPercent(s.percent)}, ramping to ${fmtPercent(ctx.target)}`,
      );
      break;
    case "Paused":
      set(
        CONDITION_PROGRESSING,
        "False",
        ctx.holdReason?.reason ?? "Paused",
        ctx.holdReason?.message ?? "paused",
      );
      break;
    case "Completed":
      set(CONDITION_PROGRESSING, "False", "Completed", `serving ${fmtPercent(s.percent)}`);
      break;
    case "RolledBack":
      set(
        CONDITION_PROGRESSING,
        "False",
        "RolledBack",
        "rolled back to 0%; retry or change the spec to restart",
      );
      break;
    case "Disabled":
      set(CONDITION_PROGRESSING, "False", "Disabled", "spec.enabled is false");
      break;
    default:
      break;
  }

  if (s.phase === "RolledBack") {
    const r = s.rollback;
    const detail = r?.alertName
      ? `alert ${r.alertName}`
      : r?.query
        ? `query ${r.query.trim()}${r.value !== undefined ? ` = ${r.value}` : ""}`
        : (r?.reason ?? "");
    set(
      CONDITION_DEGRADED,
      "True",
      "RolledBack",
      `${r?.reason ?? "Rollback"}: ${detail}: ${r?.message ?? ""}`,
    );
  } else if (ctx.holdReason?.reason === "AnalysisFailed") {
    set(CONDITION_DEGRADED, "True", "AnalysisFailed", ctx.holdReason.message);
  } else {
    set(CONDITION_DEGRADED, "False", "Healthy", "no failed analysis");
  }

  const inRamp = s.phase === "Progressing" || s.phase === "Paused";
  if (ctx.analysisConfigured || findCondition(conditions, CONDITION_ANALYSIS_UNAVAILABLE)) {
    if (inRamp && ctx.analysisConfigured && s.lastAnalysis?.result === "Unavailable") {
      set(
        CONDITION_ANALYSIS_UNAVAILABLE,
        "True",
        "PrometheusUnavailable",
        s.lastAnalysis.message ?? "unavailable",
      );
    } else {
      set(
        CONDITION_ANALYSIS_UNAVAILABLE,
        "False",
        inRamp ? "Available" : "NotAnalyzing",
        inRamp ? "analysis data available" : "no ramp in progress",
      );
    }
  }

  if (ctx.killed) {
    const k = ctx.killedControl;
    set(
      CONDITION_KILLED,
      "True",
      "KillSwitch",
      `killed by ${k?.by ?? "unknown"}${k?.at ? ` at ${k.at}` : ""}${k?.reason ? `: ${k.reason}` : ""}; serving off`,
    );
  } else if (findCondition(conditions, CONDITION_KILLED)) {
    set(CONDITION_KILLED, "False", "Revived", "kill switch off");
  }
  return conditions;
}

function phaseEvents(
  prev: FeatureFlagStatus,
  s: State,
  killed: boolean,
  prevKilled: boolean,
  killedControl: NonNullable<FeatureFlagStatus["controls"]>["killed"] | undefined,
  events: RolloutEvent[],
  total: number,
  target: number,
) {
  if (killed && !prevKilled) {
    events.push({
      type: "Warning",
      reason: "Killed",
      message: `kill switch on (by ${killedControl?.by ?? "unknown"}${killedControl?.reason ? `: ${killedControl.reason}` : ""}): serving off`,
    });
  } else if (!killed && prevKilled) {
    events.push({
      type: "Normal",
      reason: "Revived",
      message: `kill switch off: serving ${fmtPercent(s.percent)}`,
    });
  }
  if (prev.phase === s.phase) return;
  switch (s.phase) {
    case "Completed":
      events.push({
        type: "Normal",
        reason: "RolloutCompleted",
        message: total
          ? `canary completed: serving ${fmtPercent(target)}`
          : `serving ${fmtPercent(s.percent)}`,
      });
      break;
    case "Paused":
      events.push({ type: "Normal", reason: "RolloutPaused", message: `paused at ${fmtPercent(s.percent)}` });
      break;
    case "Progressing":
      if (prev.phase === "Paused") {
        events.push({
          type: "Normal",
          reason: "RolloutResumed",
          message: `resumed at ${fmtPercent(s.percent)}`,
        });
      }
      break;
    case "Disabled":
      events.push({ type: "Normal", reason: "Disabled", message: "spec.enabled is false: serving off" });
      break;
    default:
      break;
  }
}
