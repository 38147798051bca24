// The step machine with an injected clock: every transition of a canary, manual controls, analysis
// failures and outages, and properties over arbitrary statuses (restart from anywhere).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { FeatureFlagSpec, FeatureFlagStatus } from "../../../src/api/index.js";
import { mergeOwned, ROLLOUT_OWNERSHIP } from "../../../src/api/ownership.js";
import { TRANSITIONS } from "../../../src/rollout/canary/transitions.js";
import {
  type AnalysisOutcome,
  analysisDue,
  decide,
  findCondition,
  type RolloutDecision,
  type RolloutInput,
} from "../../../src/rollout/steps.js";

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const at = (s: number) => new Date(T0 + s * 1000);
const isoAt = (s: number) => at(s).toISOString();

type Analysis = NonNullable<NonNullable<NonNullable<FeatureFlagSpec["rollout"]>["canary"]>["analysis"]>;

function canary(
  steps: [number, string?][] = [[10, "1m"], [50, "1m"], [100]],
  extra: { target?: number; analysis?: Analysis; enabled?: boolean } = {},
): FeatureFlagSpec {
  return {
    enabled: extra.enabled ?? true,
    rollout: {
      percent: extra.target ?? 100,
      canary: {
        steps: steps.map(([percent, pause]) => (pause ? { percent, pause } : { percent })),
        ...(extra.analysis && { analysis: extra.analysis }),
      },
    },
  };
}

const alertAnalysis: Analysis = {
  alerts: [{ alertName: "FlagwrightFlagErrorRateHigh", matchLabels: { flag: "f" } }],
  interval: "10s",
};
const queryAnalysis = (failureLimit = 1, onFailure: "rollback" | "pause" = "rollback"): Analysis => ({
  query: { promql: "errors / requests", threshold: 0.05 },
  interval: "10s",
  failureLimit,
  onFailure,
});

const passed = (s: number): AnalysisOutcome => ({ result: "Passed", message: "ok", at: at(s) });
const alertFailed = (s: number): AnalysisOutcome => ({
  result: "Failed",
  reason: "Alert",
  alertName: "FlagwrightFlagErrorRateHigh",
  message: "alert FlagwrightFlagErrorRateHigh firing",
  at: at(s),
});
const queryFailed = (s: number, value = 0.2): AnalysisOutcome => ({
  result: "Failed",
  reason: "Query",
  query: "errors / requests",
  value,
  message: `query value ${value} is above the threshold 0.05`,
  at: at(s),
});
const unavailable = (s: number): AnalysisOutcome => ({
  result: "Unavailable",
  message: "Prometheus query unavailable: ECONNREFUSED",
  at: at(s),
});

/** Drives decide() like the operator: each call feeds the previous decision's status back. */
class Sim {
  status: FeatureFlagStatus | undefined;
  last!: RolloutDecision;
  constructor(
    public spec: FeatureFlagSpec,
    public generation = 1,
    public options: RolloutInput["options"] = undefined,
  ) {}
  step(seconds: number, analysis?: AnalysisOutcome): RolloutDecision {
    this.last = decide({
      spec: this.spec,
      generation: this.generation,
      ...(this.status && { status: this.status }),
      now: at(seconds),
      ...(analysis && { analysis }),
      ...(this.options && { options: this.options }),
    });
    // What the API server holds after the reconciler's apply: other writers' fields stay.
    this.status = mergeOwned(this.status, this.last.status, ROLLOUT_OWNERSHIP);
    return this.last;
  }
  controls(c: NonNullable<FeatureFlagStatus["controls"]>) {
    this.status = { ...this.status, controls: { ...this.status?.controls, ...c } };
  }
  removeControl(name: keyof NonNullable<FeatureFlagStatus["controls"]>) {
    const controls = { ...this.status?.controls };
    delete controls[name];
    this.status = { ...this.status, controls };
  }
  get s() {
    return this.status as FeatureFlagStatus;
  }
  cond(type: string) {
    return findCondition(this.status?.conditions, type);
  }
}

describe("static flags", () => {
  it("are Completed at rollout.percent (default 100), Disabled when spec.enabled is false", () => {
    expect(decide({ spec: { enabled: true }, generation: 1, now: at(0) }).status).toMatchObject({
      phase: "Completed",
      currentPercent: 100,
      observedGeneration: 1,
    });
    const d = decide({ spec: { enabled: true, rollout: { percent: 25 } }, generation: 3, now: at(0) });
    expect(d.status).toMatchObject({ phase: "Completed", currentPercent: 25, observedGeneration: 3 });
    expect(d.requeueAfterMs).toBeUndefined();
    expect(
      decide({ spec: { enabled: false, rollout: { percent: 25 } }, generation: 1, now: at(0) }).status,
    ).toMatchObject({ phase: "Disabled", currentPercent: 25 });
  });

  it("return only the fields and conditions the machine owns (no controls, projection, key, experiment, Stale)", () => {
    const status: FeatureFlagStatus = {
      key: "k",
      projection: { configMap: "flagwright-flags", revision: "abc" },
      experiment: {},
      controls: { paused: { at: isoAt(0), by: "ann" } },
      analysisOutcome: { at: isoAt(0), result: "Passed", message: "ok" },
      pushedAlert: { at: isoAt(0), result: "Failed", message: "A firing" },
      conditions: [
        { type: "Stale", status: "False", reason: "Fresh", lastTransitionTime: isoAt(0) },
        { type: "Ready", status: "True", reason: "Projected", lastTransitionTime: isoAt(0) },
      ],
    };
    const d = decide({ spec: { enabled: true }, generation: 1, status, now: at(1) });
    const owned: readonly string[] = ROLLOUT_OWNERSHIP.fields;
    expect(Object.keys(d.status).filter((k) => !owned.includes(k) && k !== "conditions")).toEqual([]);
    const conditions: readonly string[] = ROLLOUT_OWNERSHIP.conditions;
    expect(d.status.conditions?.every((c) => conditions.includes(c.type))).toBe(true);
  });
});

describe("canary ramp", () => {
  it("starts at step 0 and requeues for the pause", () => {
    const sim = new Sim(canary());
    const d = sim.step(0);
    expect(d.status).toMatchObject({
      phase: "Progressing",
      currentStepIndex: 0,
      currentPercent: 10,
      stepStartedAt: isoAt(0),
    });
    expect(d.requeueAfterMs).toBe(60_000);
    expect(d.events.map((e) => e.reason)).toEqual(["RolloutStarted"]);
    expect(sim.cond("Progressing")).toMatchObject({ status: "True", reason: "StepInProgress" });
    expect(sim.cond("Degraded")).toMatchObject({ status: "False" });
  });

  it("holds until the pause has elapsed, then advances one step at a time and completes", () => {
    const sim = new Sim(canary());
    sim.step(0);
    expect(sim.step(30).status).toMatchObject({ currentStepIndex: 0, currentPercent: 10 });
    expect(sim.last.requeueAfterMs).toBe(30_000);
    const d = sim.step(60);
    expect(d.status).toMatchObject({ currentStepIndex: 1, currentPercent: 50, stepStartedAt: isoAt(60) });
    expect(d.events).toContainEqual(expect.objectContaining({ reason: "StepAdvanced" }));
    // Much later still moves one step only: never skipping a step.
    expect(sim.step(1000).status).toMatchObject({
      currentStepIndex: 2,
      currentPercent: 100,
      phase: "Progressing",
    });
    const done = sim.step(1001);
    expect(done.status).toMatchObject({ phase: "Completed", currentPercent: 100, currentStepIndex: 2 });
    expect(done.events).toContainEqual(expect.objectContaining({ reason: "RolloutCompleted" }));
    expect(done.requeueAfterMs).toBeUndefined();
    expect(sim.cond("Progressing")).toMatchObject({ status: "False", reason: "Completed" });
  });

  it("completes at rollout.percent when the last step is below it", () => {
    const sim = new Sim(canary([[5], [20]], { target: 40 }));
    sim.step(0);
    sim.step(1);
    expect(sim.s.currentPercent).toBe(20);
    expect(sim.step(2).status).toMatchObject({ phase: "Completed", currentPercent: 40 });
  });

  it("needs a passing check during the step, not just an elapsed pause", () => {
    const sim = new Sim(canary([[10, "1m"], [100]], { analysis: alertAnalysis }));
    sim.step(0);
    expect(analysisDue(sim.spec, sim.s, at(0))).toBe(true);
    // A check at the same instant the step started measured the previous state: it does not count.
    sim.step(0, passed(0));
    expect(sim.step(61).status.currentStepIndex).toBe(0);
    expect(sim.cond("Progressing")).toMatchObject({ reason: "WaitingForAnalysis" });
    expect(sim.step(62, passed(62)).status).toMatchObject({ currentStepIndex: 1, currentPercent: 100 });
  });

  it("an inconclusive check neither passes nor fails", () => {
    const sim = new Sim(canary([[10, "1m"], [100]], { analysis: queryAnalysis(2) }));
    sim.step(0);
    sim.step(10, queryFailed(10));
    sim.step(70, { result: "Inconclusive", message: "query returned no data", at: at(70) });
    expect(sim.s).toMatchObject({
      phase: "Progressing",
      currentStepIndex: 0,
      lastAnalysis: { result: "Inconclusive", consecutiveFailures: 1 },
    });
    sim.step(80, passed(80));
    expect(sim.s).toMatchObject({ currentStepIndex: 1, lastAnalysis: { consecutiveFailures: 0 } });
  });

  it("requeues at the next analysis interval when it comes before the pause end", () => {
    const sim = new Sim(canary([[10, "1m"], [100]], { analysis: alertAnalysis }));
    sim.step(0);
    expect(sim.last.requeueAfterMs).toBe(1); // a check inside the new step, as soon as possible
    sim.step(1, passed(1));
    expect(sim.last.requeueAfterMs).toBe(10_000);
    expect(analysisDue(sim.spec, sim.s, at(5))).toBe(false);
    expect(analysisDue(sim.spec, sim.s, at(11))).toBe(true);
  });

  it("never requeues at once while a due check is outstanding (the analysis loop runs it)", () => {
    const sim = new Sim(canary([[10, "1h"], [100]], { analysis: alertAnalysis }));
    sim.step(0);
    // Later ticks with no outcome yet (or a slow Prometheus): a 0 would spin the operator.
    sim.step(0.5);
    expect(sim.last.requeueAfterMs).toBe(10_000);
    sim.step(1, unavailable(1));
    sim.step(12);
    expect(sim.last.requeueAfterMs).toBe(10_000);
  });

  it("counts a check fed twice (a retried reconcile) once", () => {
    const sim = new Sim(canary([[10, "1m"], [100]], { analysis: queryAnalysis(2) }));
    sim.step(0);
    sim.step(10, queryFailed(10));
    sim.step(11, queryFailed(10));
    sim.step(12, queryFailed(10));
    expect(sim.s).toMatchObject({ phase: "Progressing", lastAnalysis: { consecutiveFailures: 1 } });
  });
});

describe("spec changes", () => {
  it("a new generation mid-ramp restarts the plan without dropping users already in", () => {
    const sim = new Sim(canary([[10, "1m"], [50, "1m"], [100]]));
    sim.step(0);
    sim.step(60);
    expect(sim.s.currentPercent).toBe(50);
    sim.spec = canary([[5, "1m"], [25, "1m"], [75, "2m"], [100]]);
    sim.generation = 2;
    const d = sim.step(70);
    // Steps 5 and 25 are already exceeded: hold the highest of them at 50 % for its pause.
    expect(d.status).toMatchObject({
      observedGeneration: 2,
      phase: "Progressing",
      currentStepIndex: 1,
      currentPercent: 50,
      stepStartedAt: isoAt(70),
    });
    expect(d.events).toContainEqual(expect.objectContaining({ reason: "RolloutRestarted" }));
    sim.step(130);
    expect(sim.s).toMatchObject({ currentStepIndex: 2, currentPercent: 75 });
  });

  it("a new generation of a fresh or rolled back flag starts at step 0", () => {
    const sim = new Sim(canary([[10, "1m"], [100]], { analysis: alertAnalysis }));
    sim.step(0);
    sim.step(1, alertFailed(1));
    expect(sim.s.phase).toBe("RolledBack");
    sim.generation = 2;
    expect(sim.step(5).status).toMatchObject({
      phase: "Progressing",
      currentStepIndex: 0,
      currentPercent: 10,
    });
    expect(sim.cond("Degraded")).toMatchObject({ status: "False" });
  });

  it("a decrease of the target takes effect at once", () => {
    const sim = new Sim(canary([[10, "1m"], [50, "1m"], [100]]));
    sim.step(0);
    sim.step(60);
    sim.step(120);
    sim.step(121);
    expect(sim.s).toMatchObject({ phase: "Completed", currentPercent: 100 });
    sim.spec = canary(
      [
        [10, "1m"],
        [20, "1m"],
      ],
      { target: 30 },
    );
    sim.generation = 2;
    const d = sim.step(200);
    expect(d.status).toMatchObject({ phase: "Completed", currentPercent: 30, observedGeneration: 2 });
    expect(d.events).toContainEqual(expect.objectContaining({ reason: "TargetDecreased" }));

    // Mid-ramp too: at 50 %, a target of 20 applies immediately.
    const mid = new Sim(canary([[10, "1m"], [50, "1m"], [100]]));
    mid.step(0);
    mid.step(60);
    mid.spec = canary([[10, "1m"], [20]], { target: 20 });
    mid.generation = 2;
    expect(mid.step(61).status).toMatchObject({ phase: "Completed", currentPercent: 20 });
  });

  it("disabling holds nothing; re-enabling starts the canary from step 0", () => {
    const sim = new Sim(canary());
    sim.step(0);
    sim.step(60);
    sim.spec = canary(undefined, { enabled: false });
    sim.generation = 2;
    expect(sim.step(61).status).toMatchObject({ phase: "Disabled", currentPercent: 0 });
    sim.spec = canary();
    sim.generation = 3;
    expect(sim.step(62).status).toMatchObject({
      phase: "Progressing",
      currentStepIndex: 0,
      currentPercent: 10,
    });
  });
});

describe("rollback on failed analysis", () => {
  it("a firing alert takes the flag to 0 at once with a record naming the alert", () => {
    const sim = new Sim(canary([[10, "1m"], [50, "1m"], [100]], { analysis: alertAnalysis }));
    sim.step(0);
    sim.step(1, passed(1));
    sim.step(61, passed(61));
    expect(sim.s.currentPercent).toBe(50);
    const d = sim.step(65, alertFailed(65));
    expect(d.status).toMatchObject({
      phase: "RolledBack",
      currentPercent: 0,
      currentStepIndex: 1,
      rollback: {
        reason: "Alert",
        alertName: "FlagwrightFlagErrorRateHigh",
        at: isoAt(65),
        stepIndex: 1,
        percent: 50,
      },
      lastAnalysis: { result: "Failed", consecutiveFailures: 1 },
    });
    expect(d.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "RolledBack" }));
    expect(sim.cond("Degraded")).toMatchObject({ status: "True", reason: "RolledBack" });
    expect(sim.cond("Degraded")?.message).toContain("FlagwrightFlagErrorRateHigh");
    expect(d.requeueAfterMs).toBeUndefined();
    expect(analysisDue(sim.spec, sim.s, at(1000))).toBe(false);
    // It stays at 0, however much time passes or however healthy things look.
    expect(sim.step(5000, passed(5000)).status).toMatchObject({ phase: "RolledBack", currentPercent: 0 });
  });

  it("a query above its threshold rolls back after failureLimit consecutive failures", () => {
    const sim = new Sim(canary([[10, "1m"], [100]], { analysis: queryAnalysis(3) }));
    sim.step(0);
    sim.step(10, queryFailed(10));
    sim.step(20, queryFailed(20));
    sim.step(30, passed(30)); // a pass resets the streak
    sim.step(40, queryFailed(40));
    expect(sim.s).toMatchObject({ phase: "Progressing", lastAnalysis: { consecutiveFailures: 1 } });
    expect(sim.last.events).toContainEqual(
      expect.objectContaining({ type: "Warning", reason: "AnalysisFailed" }),
    );
    sim.step(50, queryFailed(50));
    const d = sim.step(60, queryFailed(60, 0.31));
    expect(d.status).toMatchObject({
      phase: "RolledBack",
      currentPercent: 0,
      rollback: { reason: "Query", query: "errors / requests", value: 0.31, at: isoAt(60), percent: 10 },
    });
    expect(d.status.rollback?.message).toContain("3 consecutive failed checks");
  });

  it("onFailure pause holds the step (Degraded) until analysis passes again", () => {
    const sim = new Sim(canary([[10, "1m"], [100]], { analysis: queryAnalysis(1, "pause") }));
    sim.step(0);
    sim.step(70, queryFailed(70));
    expect(sim.s).toMatchObject({ phase: "Paused", currentPercent: 10, currentStepIndex: 0 });
    expect(sim.cond("Degraded")).toMatchObject({ status: "True", reason: "AnalysisFailed" });
    expect(sim.step(200).status).toMatchObject({ phase: "Paused", currentStepIndex: 0 });
    sim.step(210, passed(210));
    expect(sim.s).toMatchObject({ phase: "Progressing", currentStepIndex: 1, currentPercent: 100 });
    expect(sim.cond("Degraded")).toMatchObject({ status: "False" });
  });
});

describe("analysis unavailable", () => {
  it("holds the step with AnalysisUnavailable=True and resumes when Prometheus answers", () => {
    const sim = new Sim(canary([[10, "1m"], [100]], { analysis: alertAnalysis }));
    sim.step(0);
    const d = sim.step(70, unavailable(70));
    expect(d.status).toMatchObject({ phase: "Progressing", currentStepIndex: 0, currentPercent: 10 });
    expect(sim.cond("AnalysisUnavailable")).toMatchObject({
      status: "True",
      reason: "PrometheusUnavailable",
      lastTransitionTime: isoAt(70),
    });
    expect(sim.cond("AnalysisUnavailable")?.message).toContain("ECONNREFUSED");
    expect(sim.cond("Progressing")).toMatchObject({ reason: "AnalysisUnavailable" });
    // Hours of outage: never advances on missing data, and never rolls back by default.
    expect(sim.step(3600 * 5, unavailable(3600 * 5)).status).toMatchObject({
      phase: "Progressing",
      currentStepIndex: 0,
    });
    expect(sim.cond("AnalysisUnavailable")?.lastTransitionTime).toBe(isoAt(70));
    sim.step(3600 * 5 + 10, passed(3600 * 5 + 10));
    expect(sim.s).toMatchObject({ currentStepIndex: 1 });
    expect(sim.cond("AnalysisUnavailable")).toMatchObject({ status: "False" });
  });

  it("rolls back after an outage longer than the optional limit", () => {
    const sim = new Sim(canary([[10, "1m"], [100]], { analysis: alertAnalysis }), 1, {
      rollbackAfterUnavailableMs: 300_000,
    });
    sim.step(0);
    sim.step(10, unavailable(10));
    expect(sim.last.requeueAfterMs).toBe(10_000);
    sim.step(200, unavailable(200));
    expect(sim.s.phase).toBe("Progressing");
    sim.step(310, unavailable(310));
    expect(sim.s).toMatchObject({
      phase: "RolledBack",
      currentPercent: 0,
      rollback: { reason: "AnalysisUnavailable" },
    });
  });
});

describe("manual controls", () => {
  it("pause holds the step; resume (controls.paused removed) continues", () => {
    const sim = new Sim(canary());
    sim.step(0);
    sim.controls({ paused: { at: isoAt(10), by: "ann", reason: "checking dashboards" } });
    const d = sim.step(10);
    expect(d.status).toMatchObject({ phase: "Paused", currentPercent: 10 });
    expect(d.events).toContainEqual(expect.objectContaining({ reason: "RolloutPaused" }));
    expect(sim.cond("Progressing")?.message).toContain("paused by ann");
    expect(sim.step(500).status).toMatchObject({ phase: "Paused", currentStepIndex: 0 });
    sim.removeControl("paused");
    const r = sim.step(501);
    expect(r.status).toMatchObject({ phase: "Progressing", currentStepIndex: 1 });
    expect(r.events.map((e) => e.reason)).toContain("StepAdvanced");
  });

  it("promote advances one step once, ignoring the pause; --full goes to the target", () => {
    const sim = new Sim(
      canary([
        [1, "1h"],
        [5, "1h"],
        [25, "1h"],
        [100, "1h"],
      ]),
    );
    sim.step(0);
    sim.controls({ promote: { at: isoAt(5), by: "ann" } });
    const d = sim.step(6);
    expect(d.status).toMatchObject({ currentStepIndex: 1, currentPercent: 5, stepStartedAt: isoAt(6) });
    expect(d.events).toContainEqual(expect.objectContaining({ reason: "Promoted" }));
    expect(sim.step(7).status.currentStepIndex).toBe(1); // honoured once
    sim.controls({ promote: { at: isoAt(8), by: "ann", full: true } });
    expect(sim.step(9).status).toMatchObject({ phase: "Completed", currentPercent: 100 });
  });

  it("a promote stamped ahead of the operator's clock is still honoured only once", () => {
    const sim = new Sim(
      canary([
        [1, "1h"],
        [5, "1h"],
        [100, "1h"],
      ]),
    );
    sim.step(0);
    sim.controls({ promote: { at: isoAt(30), by: "skewed" } });
    sim.step(10);
    expect(sim.s).toMatchObject({ currentStepIndex: 1, stepStartedAt: isoAt(30) });
    sim.step(20);
    sim.step(40);
    expect(sim.s.currentStepIndex).toBe(1);
  });

  it("abort rolls back to 0 (reason Manual); retry restarts from step 0", () => {
    const sim = new Sim(canary());
    sim.step(0);
    sim.step(60);
    sim.controls({ abort: { at: isoAt(70), by: "ann", reason: "support tickets" } });
    const d = sim.step(71);
    expect(d.status).toMatchObject({
      phase: "RolledBack",
      currentPercent: 0,
      rollback: { reason: "Manual", stepIndex: 1, percent: 50 },
    });
    expect(d.status.rollback?.message).toContain("aborted by ann: support tickets");
    sim.step(100);
    expect(sim.s.phase).toBe("RolledBack");
    // A retry older than the rollback is not honoured.
    sim.controls({ retry: { at: isoAt(50), by: "bob" } });
    expect(sim.step(101).status.phase).toBe("RolledBack");
    sim.controls({ retry: { at: isoAt(110), by: "bob" } });
    const r = sim.step(111);
    expect(r.status).toMatchObject({ phase: "Progressing", currentStepIndex: 0, currentPercent: 10 });
    expect(r.events).toContainEqual(expect.objectContaining({ reason: "RolloutRetried" }));
    expect(sim.step(112).status.phase).toBe("Progressing"); // the old abort is not honoured again
    expect(sim.step(171).status).toMatchObject({ currentStepIndex: 1 });
  });

  it("retry after an analysis rollback restarts; the next failure rolls back again", () => {
    const sim = new Sim(canary([[10, "1m"], [100]], { analysis: alertAnalysis }));
    sim.step(0);
    sim.step(1, alertFailed(1));
    sim.controls({ retry: { at: isoAt(20), by: "ann" } });
    sim.step(21, passed(21));
    expect(sim.s).toMatchObject({
      phase: "Progressing",
      currentPercent: 10,
      lastAnalysis: { result: "Passed" },
    });
    sim.step(30, alertFailed(30));
    expect(sim.s).toMatchObject({ phase: "RolledBack", rollback: { at: isoAt(30) } });
  });

  it("kill is effective 0 with the phase unchanged; revive restores", () => {
    const sim = new Sim(canary());
    sim.step(0);
    sim.controls({ killed: { at: isoAt(5), by: "ann", reason: "incident 42" } });
    const d = sim.step(5);
    expect(d.killed).toBe(true);
    expect(d.status).toMatchObject({ phase: "Progressing", currentPercent: 10, effectiveSince: isoAt(5) });
    expect(d.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "Killed" }));
    expect(sim.cond("Killed")).toMatchObject({ status: "True", reason: "KillSwitch" });
    expect(sim.cond("Killed")?.message).toContain("incident 42");
    // The ramp does not advance while nobody gets the flag.
    expect(sim.step(500).status.currentStepIndex).toBe(0);
    sim.removeControl("killed");
    const r = sim.step(501);
    expect(r.killed).toBe(false);
    expect(r.events).toContainEqual(expect.objectContaining({ reason: "Revived" }));
    expect(sim.cond("Killed")).toMatchObject({ status: "False" });
    expect(r.status.effectiveSince).toBe(isoAt(501));
    // Static flags can be killed too.
    const k = decide({
      spec: { enabled: true },
      generation: 1,
      status: { controls: { killed: { at: isoAt(0) } } },
      now: at(1),
    });
    expect(k).toMatchObject({ killed: true, status: { phase: "Completed", currentPercent: 100 } });
  });
});

describe("transition order (the first transition that applies decides the tick)", () => {
  it("is abort, the rollbacks, promote, the holds, then advance and the waits", () => {
    expect(TRANSITIONS.map((t) => t.name)).toEqual([
      "abortOnRequest",
      "rollBackOnFailure",
      "rollBackOnOutage",
      "promoteOnRequest",
      "holdOnFailure",
      "holdWhilePaused",
      "holdWhileKilled",
      "holdWhileUnavailable",
      "advanceStep",
      "waitForAnalysis",
      "keepRamping",
    ]);
  });

  // Every request is stamped after the step began, so each one alone would act.
  function started(analysis?: Analysis): Sim {
    const sim = new Sim(canary([[10, "1m"], [50, "1m"], [100]], analysis ? { analysis } : {}));
    sim.step(0);
    return sim;
  }

  it("an abort wins over a failure rollback, a promotion and an advance in the same tick", () => {
    const sim = started(queryAnalysis());
    sim.controls({ abort: { at: isoAt(5), by: "ann" }, promote: { at: isoAt(5), by: "bob" } });
    sim.step(61, queryFailed(61));
    expect(sim.s).toMatchObject({ phase: "RolledBack", rollback: { reason: "Manual", stepIndex: 0 } });
    expect(sim.last.events.map((e) => e.reason)).not.toContain("Promoted");
  });

  it("a failure rollback wins over a promotion", () => {
    const sim = started(queryAnalysis());
    sim.controls({ promote: { at: isoAt(5), by: "bob", full: true } });
    sim.step(10, queryFailed(10));
    expect(sim.s).toMatchObject({ phase: "RolledBack", rollback: { reason: "Query" } });
  });

  it("an outage rollback wins over a promotion", () => {
    const sim = new Sim(canary([[10, "1m"], [50, "1m"], [100]], { analysis: queryAnalysis() }), 1, {
      rollbackAfterUnavailableMs: 30_000,
    });
    sim.step(0);
    sim.step(10, unavailable(10));
    sim.controls({ promote: { at: isoAt(45), by: "bob" } });
    sim.step(50, unavailable(50));
    expect(sim.s).toMatchObject({
      phase: "RolledBack",
      rollback: { reason: "AnalysisUnavailable", stepIndex: 0, percent: 10 },
    });
    expect(sim.last.events.map((e) => e.reason)).not.toContain("Promoted");
  });

  it("a promotion wins over a pause, and the pause still holds the promoted step", () => {
    const sim = started();
    sim.controls({ paused: { at: isoAt(5), by: "ann" }, promote: { at: isoAt(6), by: "bob" } });
    sim.step(10);
    expect(sim.s).toMatchObject({ phase: "Paused", currentStepIndex: 1, currentPercent: 50 });
    expect(sim.cond("Progressing")).toMatchObject({ status: "False", reason: "Paused" });
  });

  it("a failing check held by onFailure pause wins over controls.paused as the reason", () => {
    const sim = started(queryAnalysis(1, "pause"));
    sim.controls({ paused: { at: isoAt(5), by: "ann" } });
    sim.step(10, queryFailed(10));
    expect(sim.cond("Progressing")).toMatchObject({ status: "False", reason: "AnalysisFailed" });
    expect(sim.cond("Degraded")).toMatchObject({ status: "True", reason: "AnalysisFailed" });
  });

  it("a pause holds a step whose pause is over (no advance)", () => {
    const sim = started();
    sim.controls({ paused: { at: isoAt(5), by: "ann" } });
    sim.step(61);
    expect(sim.s).toMatchObject({ phase: "Paused", currentStepIndex: 0, currentPercent: 10 });
  });

  it("the kill switch holds the ramp before an outage does", () => {
    const sim = started(queryAnalysis());
    sim.controls({ killed: { at: isoAt(5), by: "ann" } });
    sim.step(61, unavailable(61));
    expect(sim.s).toMatchObject({ phase: "Progressing", currentStepIndex: 0 });
    expect(sim.cond("Progressing")).toMatchObject({ reason: "Killed" });
  });

  it("an outage holds the ramp before it waits for analysis", () => {
    const sim = started(queryAnalysis());
    sim.step(61, unavailable(61));
    expect(sim.cond("Progressing")).toMatchObject({ status: "True", reason: "AnalysisUnavailable" });
  });
});

describe("restarts", () => {
  it("resumes exactly where status says (a new operator process, no memory)", () => {
    const sim = new Sim(canary([[1, "1m"], [5, "1m"], [25, "1m"], [100]]));
    sim.step(0);
    sim.step(60);
    sim.step(120);
    const saved = structuredClone(sim.s);
    // Another replica reads the same status later than the pause end: exactly one step further.
    const d = decide({ spec: sim.spec, generation: 1, status: saved, now: at(179) });
    expect(d.status.currentStepIndex).toBe(2);
    const e = decide({ spec: sim.spec, generation: 1, status: saved, now: at(181) });
    expect(e.status).toMatchObject({ currentStepIndex: 3, currentPercent: 100 });
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const pauseArb = fc.constantFrom(undefined, "0s", "1s", "30s", "1m", "5m");
const stepsArb = fc
  .uniqueArray(fc.integer({ min: 0, max: 10000 }), { minLength: 1, maxLength: 6 })
  .chain((raw) => {
    const percents = [...raw].sort((a, b) => a - b).map((p) => p / 100);
    return fc.tuple(
      fc.constant(percents),
      fc.array(pauseArb, { minLength: percents.length, maxLength: percents.length }),
    );
  })
  .map(([percents, pauses]) =>
    percents.map((percent, i) => (pauses[i] ? { percent, pause: pauses[i] } : { percent })),
  );

const specArb: fc.Arbitrary<FeatureFlagSpec> = fc
  .record({
    steps: stepsArb,
    extra: fc.integer({ min: 0, max: 5000 }),
    enabled: fc.boolean(),
    analysis: fc.option(
      fc.record({
        failureLimit: fc.integer({ min: 1, max: 3 }),
        onFailure: fc.constantFrom("rollback" as const, "pause" as const),
        interval: fc.constantFrom("1s", "10s"),
      }),
      { nil: undefined },
    ),
    static: fc.boolean(),
  })
  .map(({ steps, extra, enabled, analysis, static: isStatic }) => {
    const last = steps[steps.length - 1]?.percent ?? 0;
    const target = Math.min(100, Math.round((last + extra / 100) * 100) / 100);
    if (isStatic) return { enabled, rollout: { percent: target } };
    return {
      enabled,
      rollout: {
        percent: target,
        canary: { steps, ...(analysis && { analysis: { ...analysis, alerts: [{ alertName: "A" }] } }) },
      },
    };
  });

const timeArb = fc.option(fc.integer({ min: -100, max: 10000 }).map(isoAt), { nil: undefined });
const actorArb = fc.option(
  fc.record({ at: fc.integer({ min: -100, max: 10000 }).map(isoAt), by: fc.constant("u") }),
  {
    nil: undefined,
  },
);
const statusArb: fc.Arbitrary<FeatureFlagStatus | undefined> = fc.option(
  fc.record(
    {
      observedGeneration: fc.integer({ min: 0, max: 3 }),
      phase: fc.constantFrom(
        "Pending",
        "Progressing",
        "Paused",
        "Completed",
        "RolledBack",
        "Disabled" as const,
      ),
      currentPercent: fc.integer({ min: 0, max: 10000 }).map((p) => p / 100),
      currentStepIndex: fc.integer({ min: 0, max: 8 }),
      stepStartedAt: timeArb,
      rollback: fc.option(
        fc.record({
          at: fc.integer({ min: -100, max: 10000 }).map(isoAt),
          reason: fc.constant("Alert" as const),
        }),
        {
          nil: undefined,
        },
      ),
      lastAnalysis: fc.option(
        fc.record({
          at: fc.integer({ min: -100, max: 10000 }).map(isoAt),
          result: fc.constantFrom("Passed", "Failed", "Inconclusive", "Unavailable" as const),
          consecutiveFailures: fc.integer({ min: 0, max: 4 }),
        }),
        { nil: undefined },
      ),
      controls: fc.record(
        { killed: actorArb, paused: actorArb, promote: actorArb, abort: actorArb, retry: actorArb },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: [] },
  ) as fc.Arbitrary<FeatureFlagStatus>,
  { nil: undefined },
);
const outcomeArb = (now: number) =>
  fc.option(
    fc.constantFrom<AnalysisOutcome>(
      { result: "Passed", message: "ok", at: at(now) },
      { result: "Failed", reason: "Alert", alertName: "A", message: "A firing", at: at(now) },
      { result: "Inconclusive", message: "empty", at: at(now) },
      { result: "Unavailable", message: "down", at: at(now) },
    ),
    { nil: undefined },
  );

const inputArb: fc.Arbitrary<RolloutInput> = fc
  .record({
    spec: specArb,
    generation: fc.integer({ min: 1, max: 3 }),
    status: statusArb,
    now: fc.integer({ min: 0, max: 10000 }),
    outage: fc.option(fc.integer({ min: 1000, max: 600_000 }), { nil: undefined }),
  })
  .chain((r) =>
    outcomeArb(r.now).map((analysis) => ({
      spec: r.spec,
      generation: r.generation,
      ...(r.status && { status: r.status }),
      now: at(r.now),
      ...(analysis && { analysis }),
      ...(r.outage && { options: { rollbackAfterUnavailableMs: r.outage } }),
    })),
  );

describe("properties", () => {
  it("feeding the decision's status back with the same input changes nothing (from any status)", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const first = decide(input);
        const second = decide({
          ...input,
          status: mergeOwned(input.status, first.status, ROLLOUT_OWNERSHIP),
        });
        expect(second.status).toEqual(first.status);
        expect(second.killed).toBe(first.killed);
        const { currentPercent = 0, currentStepIndex } = first.status;
        expect(currentPercent).toBeGreaterThanOrEqual(0);
        expect(currentPercent).toBeLessThanOrEqual(100);
        const steps = input.spec.rollout?.canary?.steps;
        if (currentStepIndex !== undefined) expect(currentStepIndex).toBeLessThan(steps?.length ?? 0);
        if (first.requeueAfterMs !== undefined) expect(first.requeueAfterMs).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 2000 },
    );
  });

  it("a healthy ramp never decreases, never skips a step, and completes at the target", () => {
    fc.assert(
      fc.property(
        specArb.filter((s) => s.enabled && s.rollout?.canary !== undefined),
        fc.array(fc.integer({ min: 0, max: 400_000 }), { minLength: 1, maxLength: 60 }),
        fc.boolean(),
        (spec, gaps, restartEachTime) => {
          const steps = spec.rollout?.canary?.steps ?? [];
          const withAnalysis = spec.rollout?.canary?.analysis !== undefined;
          let now = T0;
          let status: FeatureFlagStatus | undefined;
          const visited: number[] = [];
          let prevPercent = 0;
          let prevIndex = -1;
          const feed = (gap: number) => {
            now += gap;
            const analysis: AnalysisOutcome | undefined = withAnalysis
              ? { result: "Passed", message: "ok", at: new Date(now) }
              : undefined;
            const input: RolloutInput = {
              spec,
              generation: 1,
              ...(status && { status: restartEachTime ? structuredClone(status) : status }),
              now: new Date(now),
              ...(analysis && { analysis }),
            };
            const d = decide(input);
            status = d.status;
            const p = status.currentPercent ?? 0;
            const i = status.currentStepIndex ?? 0;
            expect(p).toBeGreaterThanOrEqual(prevPercent);
            expect(i - prevIndex).toBeLessThanOrEqual(1);
            expect(i).toBeGreaterThanOrEqual(prevIndex);
            if (i !== prevIndex) visited.push(i);
            prevPercent = p;
            prevIndex = i;
          };
          for (const gap of gaps) feed(gap);
          // Then let plenty of time pass: it must reach Completed at the target.
          for (let n = 0; n < steps.length + 2 && status?.phase !== "Completed"; n++) feed(3_600_000);
          expect(status?.phase).toBe("Completed");
          expect(status?.currentPercent).toBe(spec.rollout?.percent);
          expect(visited).toEqual(steps.map((_, i) => i));
        },
      ),
      { numRuns: 500 },
    );
  });
});
