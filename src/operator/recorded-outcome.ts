// Analysis outcomes as status records them (status.analysisOutcome from the analysis loop,
// status.pushedAlert from Alertmanager's pushes): the one codec the writers and the planner share,
// so what is written is exactly what is read back. Pure; the write itself is status.ts's.
import type { FeatureFlagStatus } from "../api/index.js";
import type { AnalysisOutcome } from "../rollout/steps.js";

/** The status fields that hold a recorded outcome, one per writer. */
export type OutcomeField = "analysisOutcome" | "pushedAlert";

type RecordedOutcome = NonNullable<FeatureFlagStatus["analysisOutcome"]>;

/** Longest message kept in status: a long remote answer must not bloat the object. */
const MAX_MESSAGE = 4000;

/**
 * The status part that records `outcome` in `field`. A check's guarded-comparison progress goes
 * with it in the same write (status.cohortAnalysis), for the analysis loop only.
 */
export function encodeOutcome(field: OutcomeField, outcome: AnalysisOutcome): Record<string, unknown> {
  const recorded: Record<string, unknown> = {
    at: (outcome.at ?? new Date()).toISOString(),
    result: outcome.result,
    message: outcome.message.slice(0, MAX_MESSAGE),
  };
  if (outcome.reason !== undefined) recorded.reason = outcome.reason;
  if (outcome.alertName !== undefined) recorded.alertName = outcome.alertName;
  if (outcome.query !== undefined) recorded.query = outcome.query;
  if (outcome.value !== undefined && Number.isFinite(outcome.value)) recorded.value = outcome.value;
  const part: Record<string, unknown> = { [field]: recorded };
  if (field === "analysisOutcome" && outcome.cohortProgress) part.cohortAnalysis = outcome.cohortProgress;
  return part;
}

const ms = (text: string | undefined) => (text === undefined ? Number.NaN : Date.parse(text));

/** The outcome a status record holds, or undefined when it holds none (no result or no readable time). */
export function decodeOutcome(recorded: RecordedOutcome | undefined): AnalysisOutcome | undefined {
  const at = ms(recorded?.at);
  if (!recorded?.result || Number.isNaN(at)) return undefined;
  return {
    result: recorded.result,
    message: recorded.message ?? "",
    at: new Date(at),
    ...(recorded.reason !== undefined && { reason: recorded.reason }),
    ...(recorded.alertName !== undefined && { alertName: recorded.alertName }),
    ...(recorded.query !== undefined && { query: recorded.query }),
    ...(recorded.value !== undefined && { value: recorded.value }),
  };
}

/**
 * The outcomes recorded in status (the analysis loop's latest check, the latest pushed alert) not
 * yet counted, oldest first. A check is counted once: when its time is after lastAnalysis.at.
 */
export function pendingOutcomes(status: FeatureFlagStatus | undefined): AnalysisOutcome[] {
  const counted = ms(status?.lastAnalysis?.at);
  const pending: AnalysisOutcome[] = [];
  for (const recorded of [status?.analysisOutcome, status?.pushedAlert]) {
    const outcome = decodeOutcome(recorded);
    // Never counted (no lastAnalysis, so NaN) counts as older than any outcome.
    if (outcome?.at && !(outcome.at.getTime() <= counted)) pending.push(outcome);
  }
  return pending.sort((a, b) => (a.at?.getTime() ?? 0) - (b.at?.getTime() ?? 0));
}

/**
 * When a push is stamped: now, or just after the latest check this replica has seen, whichever is
 * later; a standby's clock behind the leader's must not make the push look older than the last
 * counted check (and be skipped).
 */
export function pushStamp(status: FeatureFlagStatus | undefined, now: Date): Date {
  const seen = [status?.lastAnalysis?.at, status?.analysisOutcome?.at].map((t) =>
    t ? Date.parse(t) + 1 : 0,
  );
  return new Date(Math.max(now.getTime(), ...seen.filter((t) => !Number.isNaN(t))));
}
