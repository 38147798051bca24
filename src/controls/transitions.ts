// Manual controls as status patches: which transitions are allowed from a flag's current status,
// and the JSON merge patch (status.controls only) that requests each. Pure, so the rules are unit
// tested and the command only adds I/O. The operator's step machine (src/rollout/steps.ts) honours
// these timestamps; the timestamps here are chosen so that it will, even with clock skew.
import type { FeatureFlag, FeatureFlagStatus } from "../api/index.js";

export const CONTROL_COMMANDS = ["kill", "revive", "pause", "resume", "promote", "abort", "retry"] as const;
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];

export interface ControlRequest {
  command: ControlCommand;
  by: string;
  now: Date;
  reason?: string;
  full?: boolean;
}

export class TransitionError extends Error {
  override name = "TransitionError";
}

export interface ControlPlan {
  /** Merge patch for the status subresource: only status.controls, null deletes. */
  controls: Record<string, unknown>;
  /** What changes, for people. */
  summary: string;
  changes: string[];
  /** Something worth knowing that does not block the command. */
  warnings: string[];
}

type Controls = NonNullable<FeatureFlagStatus["controls"]>;

const percent = (p: number | undefined) => `${p ?? 0}%`;

function describeStep(flag: FeatureFlag): string {
  const s = flag.status ?? {};
  const steps = flag.spec.rollout?.canary?.steps;
  if (!steps) return percent(s.currentPercent);
  return `step ${(s.currentStepIndex ?? 0) + 1}/${steps.length} at ${percent(s.currentPercent)}`;
}

/**
 * A timestamp the step machine will see as newer than `after` (it compares with status times the
 * operator wrote from its own clock), so a plugin clock running behind still gets honoured.
 */
function stamp(now: Date, after: string | undefined): string {
  const floor = after ? Date.parse(after) : Number.NaN;
  const t = Number.isNaN(floor) ? now.getTime() : Math.max(now.getTime(), floor + 1);
  return new Date(t).toISOString();
}

function actor(req: ControlRequest, at: string) {
  return { at, by: req.by, ...(req.reason && { reason: req.reason }) };
}

/** Decides whether `req` is allowed for the flag as it is now, and the patch that requests it. */
export function planControl(flag: FeatureFlag, req: ControlRequest): ControlPlan {
  const name = flag.metadata.name ?? "?";
  const status = flag.status ?? {};
  const controls: Controls = status.controls ?? {};
  const phase = status.phase;
  const canary = flag.spec.rollout?.canary;
  const warnings: string[] = [];
  if (status.observedGeneration !== undefined && status.observedGeneration !== flag.metadata.generation) {
    warnings.push(
      `the operator has not yet reconciled generation ${flag.metadata.generation} (status is for ${status.observedGeneration}); a new generation restarts the rollout`,
    );
  }
  const fail = (why: string): never => {
    throw new TransitionError(`cannot ${req.command} flag ${name}: ${why}`);
  };
  const needRamp = () => {
    if (!canary) fail("it has no canary (spec.rollout.canary); there is no rollout to control");
    if (phase === undefined || phase === "Pending") fail("the operator has not started its rollout yet");
    if (phase === "Completed") fail(`its rollout is already Completed at ${percent(status.currentPercent)}`);
    if (phase === "RolledBack") {
      fail(
        `it is RolledBack (${status.rollback?.reason ?? "unknown reason"}); use retry to restart the canary`,
      );
    }
    if (phase === "Disabled") fail("it is Disabled (spec.enabled is false)");
  };
  const set = (key: keyof Controls, value: unknown) => {
    const text = value === null ? "removed" : JSON.stringify(value);
    return { controls: { [key]: value }, change: `status.controls.${key}: ${text}` };
  };

  let result: { controls: Record<string, unknown>; change: string };
  let summary: string;
  switch (req.command) {
    case "kill": {
      if (controls.killed) {
        fail(
          `it is already killed (by ${controls.killed.by ?? "unknown"} at ${controls.killed.at ?? "?"}); revive it first`,
        );
      }
      result = set("killed", actor(req, stamp(req.now, undefined)));
      summary = `kill switch on: flag ${name} serves off (its rollout stays at ${describeStep(flag)} until revived)`;
      break;
    }
    case "revive": {
      if (!controls.killed) fail("it is not killed");
      result = set("killed", null);
      summary = `kill switch off: flag ${name} serves ${phase === "RolledBack" ? "0% (RolledBack)" : describeStep(flag)} again`;
      break;
    }
    case "pause": {
      if (controls.paused)
        fail(`it is already paused (by ${controls.paused.by ?? "unknown"} at ${controls.paused.at ?? "?"})`);
      needRamp();
      result = set("paused", actor(req, stamp(req.now, undefined)));
      summary = `flag ${name} paused at ${describeStep(flag)}`;
      break;
    }
    case "resume": {
      if (!controls.paused) {
        fail(
          phase === "Paused"
            ? "it is held by failed analysis, not paused by a person; it resumes when analysis passes (or promote/abort it)"
            : "it is not paused",
        );
      }
      result = set("paused", null);
      summary = `flag ${name} resumed at ${describeStep(flag)}`;
      break;
    }
    case "promote": {
      needRamp();
      const at = stamp(req.now, status.stepStartedAt);
      result = set("promote", { at, by: req.by, full: req.full === true });
      const steps = canary?.steps ?? [];
      const index = status.currentStepIndex ?? 0;
      const next = steps[index + 1];
      summary =
        req.full || !next
          ? `flag ${name} promoted to its target ${percent(flag.spec.rollout?.percent ?? 100)} (was ${describeStep(flag)})`
          : `flag ${name} promoted to step ${index + 2}/${steps.length} at ${percent(Math.max(next.percent, status.currentPercent ?? 0))} (was ${describeStep(flag)})`;
      if (controls.paused)
        warnings.push("the flag stays paused at the new step; resume it to continue the ramp");
      break;
    }
    case "abort": {
      needRamp();
      result = set("abort", actor(req, stamp(req.now, status.stepStartedAt)));
      summary = `flag ${name} aborted: back to 0% as a manual rollback (was ${describeStep(flag)})`;
      break;
    }
    case "retry": {
      if (phase !== "RolledBack")
        fail(
          `it is ${phase ?? "not yet reconciled"}, not RolledBack; only a rolled back canary can be retried`,
        );
      if (!canary) fail("it has no canary to retry");
      result = set("retry", actor(req, stamp(req.now, status.rollback?.at)));
      summary = `flag ${name} retried: the canary restarts at step 1/${canary?.steps.length ?? 1} (${percent(canary?.steps[0]?.percent)})`;
      break;
    }
  }
  return { controls: result.controls, summary, changes: [result.change], warnings };
}
