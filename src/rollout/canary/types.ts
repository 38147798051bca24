// The step machine's vocabulary: its input and decision (public through rollout/steps.ts), the
// ramp's working state, and the time and duration helpers every transition shares.

import { parseDuration } from "../../api/duration.js";
import type { FeatureFlagSpec, FeatureFlagStatus } from "../../api/index.js";
import type { CohortProgress } from "../cohort.js";

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

export type Phase = NonNullable<FeatureFlagStatus["phase"]>;
export type Rollback = NonNullable<FeatureFlagStatus["rollback"]>;
export type LastAnalysis = NonNullable<FeatureFlagStatus["lastAnalysis"]>;
export type Controls = NonNullable<FeatureFlagStatus["controls"]>;
export type KilledControl = Controls["killed"] | undefined;
export type Steps = NonNullable<NonNullable<FeatureFlagSpec["rollout"]>["canary"]>["steps"];
export type Analysis = NonNullable<
  NonNullable<NonNullable<FeatureFlagSpec["rollout"]>["canary"]>["analysis"]
>;

/** Where the ramp stands: the part of status the transitions compute. */
export interface RampState {
  phase: Phase;
  percent: number;
  index?: number;
  stepStartedAt?: number;
  rollback?: Rollback;
  lastAnalysis?: LastAnalysis;
}

/** Why a ramp that could move is standing still; shown in the Progressing condition. */
export interface HoldReason {
  reason: string;
  message: string;
}

export const DEFAULT_ANALYSIS_INTERVAL = "30s";

/** Parses an RFC 3339 time to epoch milliseconds; undefined for missing or unparsable text ("never"). */
export function parseTimeMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Date.parse(text);
  return Number.isNaN(value) ? undefined : value;
}

export const iso = (t: number) => new Date(t).toISOString();
export const fmtPercent = (p: number) => `${p}%`;

export function durationMs(text: string | undefined, fallback = 0): number {
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
