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

/** What one transition sees: the flag as it is now and the request. */
interface ControlContext {
  flag: FeatureFlag;
  req: ControlRequest;
  name: string;
  status: FeatureFlagStatus;
  controls: Controls;
  canary: NonNullable<FeatureFlag["spec"]["rollout"]>["canary"];
}

/** One allowed transition: the status.controls key it sets (null deletes), and what it does. */
interface Transition {
  key: keyof Controls;
  value: unknown;
  summary: string;
  warnings?: string[];
}

function fail(ctx: ControlContext, why: string): never {
  throw new TransitionError(`cannot ${ctx.req.command} flag ${ctx.name}: ${why}`);
}

/** Pause, promote and abort act on a ramping canary only. */
function requireRamp(ctx: ControlContext): void {
  const { status, canary } = ctx;
  const phase = status.phase;
  if (!canary) fail(ctx, "it has no canary (spec.rollout.canary); there is no rollout to control");
  if (phase === undefined || phase === "Pending") fail(ctx, "the operator has not started its rollout yet");
  if (phase === "Completed")
    fail(ctx, `its rollout is already Completed at ${percent(status.currentPercent)}`);
  if (phase === "RolledBack") {
    fail(
      ctx,
      `it is RolledBack (${status.rollback?.reason ?? "unknown reason"}); use retry to restart the canary`,
    );
  }
  if (phase === "Disabled") fail(ctx, "it is Disabled (spec.enabled is false)");
}

function kill(ctx: ControlContext): Transition {
  const { killed } = ctx.controls;
  if (killed) {
    fail(ctx, `it is already killed (by ${killed.by ?? "unknown"} at ${killed.at ?? "?"}); revive it first`);
  }
  return {
    key: "killed",
    value: actor(ctx.req, stamp(ctx.req.now, undefined)),
    summary: `kill switch on: flag ${ctx.name} serves off (its rollout stays at ${describeStep(ctx.flag)} until revived)`,
  };
}

function revive(ctx: ControlContext): Transition {
  if (!ctx.controls.killed) fail(ctx, "it is not killed");
  const serves = ctx.status.phase === "RolledBack" ? "0% (RolledBack)" : describeStep(ctx.flag);
  return { key: "killed", value: null, summary: `kill switch off: flag ${ctx.name} serves ${serves} again` };
}

function pause(ctx: ControlContext): Transition {
  const { paused } = ctx.controls;
  if (paused) fail(ctx, `it is already paused (by ${paused.by ?? "unknown"} at ${paused.at ?? "?"})`);
  requireRamp(ctx);
  return {
    key: "paused",
    value: actor(ctx.req, stamp(ctx.req.now, undefined)),
    summary: `flag ${ctx.name} paused at ${describeStep(ctx.flag)}`,
  };
}

function resume(ctx: ControlContext): Transition {
  if (!ctx.controls.paused) {
    fail(
      ctx,
      ctx.status.phase === "Paused"
        ? "it is held by failed analysis, not paused by a person; it resumes when analysis passes (or promote/abort it)"
        : "it is not paused",
    );
  }
  return { key: "paused", value: null, summary: `flag ${ctx.name} resumed at ${describeStep(ctx.flag)}` };
}

function promote(ctx: ControlContext): Transition {
  requireRamp(ctx);
  const { flag, req, name, status } = ctx;
  const at = stamp(req.now, status.stepStartedAt);
  const steps = ctx.canary?.steps ?? [];
  const index = status.currentStepIndex ?? 0;
  const next = steps[index + 1];
  const summary =
    req.full || !next
      ? `flag ${name} promoted to its target ${percent(flag.spec.rollout?.percent ?? 100)} (was ${describeStep(flag)})`
      : `flag ${name} promoted to step ${index + 2}/${steps.length} at ${percent(Math.max(next.percent, status.currentPercent ?? 0))} (was ${describeStep(flag)})`;
  return {
    key: "promote",
    value: { at, by: req.by, full: req.full === true },
    summary,
    warnings: ctx.controls.paused
      ? ["the flag stays paused at the new step; resume it to continue the ramp"]
      : [],
  };
}

function abort(ctx: ControlContext): Transition {
  requireRamp(ctx);
  return {
    key: "abort",
    value: actor(ctx.req, stamp(ctx.req.now, ctx.status.stepStartedAt)),
    summary: `flag ${ctx.name} aborted: back to 0% as a manual rollback (was ${describeStep(ctx.flag)})`,
  };
}

function retry(ctx: ControlContext): Transition {
  const { status, canary } = ctx;
  if (status.phase !== "RolledBack") {
    fail(
      ctx,
      `it is ${status.phase ?? "not yet reconciled"}, not RolledBack; only a rolled back canary can be retried`,
    );
  }
  if (!canary) fail(ctx, "it has no canary to retry");
  return {
    key: "retry",
    value: actor(ctx.req, stamp(ctx.req.now, status.rollback?.at)),
    summary: `flag ${ctx.name} retried: the canary restarts at step 1/${canary.steps.length} (${percent(canary.steps[0]?.percent)})`,
  };
}

/** Each command's transition: it throws a TransitionError when not allowed from the current status. */
const TRANSITIONS: Record<ControlCommand, (ctx: ControlContext) => Transition> = {
  kill,
  revive,
  pause,
  resume,
  promote,
  abort,
  retry,
};

/** Decides whether `req` is allowed for the flag as it is now, and the patch that requests it. */
export function planControl(flag: FeatureFlag, req: ControlRequest): ControlPlan {
  const status = flag.status ?? {};
  const ctx: ControlContext = {
    flag,
    req,
    name: flag.metadata.name ?? "?",
    status,
    controls: status.controls ?? {},
    canary: flag.spec.rollout?.canary,
  };
  const warnings: string[] = [];
  if (status.observedGeneration !== undefined && status.observedGeneration !== flag.metadata.generation) {
    warnings.push(
      `the operator has not yet reconciled generation ${flag.metadata.generation} (status is for ${status.observedGeneration}); a new generation restarts the rollout`,
    );
  }
  const transition = TRANSITIONS[req.command](ctx);
  const text = transition.value === null ? "removed" : JSON.stringify(transition.value);
  return {
    controls: { [transition.key]: transition.value },
    summary: transition.summary,
    changes: [`status.controls.${transition.key}: ${text}`],
    warnings: [...warnings, ...(transition.warnings ?? [])],
  };
}
