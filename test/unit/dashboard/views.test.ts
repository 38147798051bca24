// The dashboard's pure view models: flag rows, the filter, the rollout timeline from status, the
// experiment view and flag debt with and without a refs report.
import { describe, expect, it } from "vitest";
import type { FeatureFlag, FeatureFlagStatus } from "../../../src/api/index.js";
import {
  buildTimeline,
  debtView,
  experimentView,
  filterFlags,
  flagRow,
  rollbackCause,
} from "../../../src/dashboard/views.js";

const NOW = new Date("2026-06-01T12:00:00.000Z");
const canary: FeatureFlag["spec"] = {
  enabled: true,
  owner: "team-checkout",
  description: "New checkout flow",
  rollout: {
    percent: 100,
    canary: { steps: [{ percent: 5, pause: "1h" }, { percent: 25, pause: "1h" }, { percent: 100 }] },
  },
};
function flag(
  name: string,
  status?: FeatureFlagStatus,
  spec: FeatureFlag["spec"] = canary,
  namespace = "shop",
) {
  return {
    apiVersion: "flagwright.dev/v1alpha1",
    kind: "FeatureFlag",
    metadata: {
      name,
      namespace,
      generation: 1,
      resourceVersion: "7",
      creationTimestamp: new Date("2026-01-01"),
    },
    spec,
    ...(status && { status }),
  } as FeatureFlag;
}
const rolledBack: FeatureFlagStatus = {
  observedGeneration: 1,
  phase: "RolledBack",
  currentPercent: 0,
  currentStepIndex: 1,
  stepStartedAt: "2026-06-01T11:00:00.000Z",
  rollback: {
    at: "2026-06-01T11:30:00.000Z",
    reason: "Alert",
    alertName: "CheckoutErrors",
    stepIndex: 1,
    percent: 25,
    message: "firing for 2m",
  },
  lastAnalysis: {
    at: "2026-06-01T11:30:00.000Z",
    result: "Failed",
    consecutiveFailures: 2,
    message: "alert",
  },
  controls: { killed: { at: "2026-06-01T11:45:00.000Z", by: "ann@example.com", reason: "pager" } },
};

describe("flagRow", () => {
  it("shows key, owner, phase, percents, step, last analysis, rollback cause and badges", () => {
    const row = flagRow(flag("checkout", rolledBack), NOW);
    expect(row).toMatchObject({
      namespace: "shop",
      name: "checkout",
      key: "checkout",
      owner: "team-checkout",
      phase: "RolledBack",
      currentPercent: 0,
      targetPercent: 100,
      step: "2/3",
      lastAnalysis: { result: "Failed", at: "2026-06-01T11:30:00.000Z" },
      rollbackReason: "Alert CheckoutErrors: firing for 2m",
      killed: true,
      paused: false,
    });
  });

  it("marks a hold by failed analysis apart from a person's pause", () => {
    const held = flagRow(flag("a", { phase: "Paused", currentStepIndex: 0, currentPercent: 5 }), NOW);
    const paused = flagRow(
      flag("b", { phase: "Paused", currentStepIndex: 0, controls: { paused: { by: "bob" } } }),
      NOW,
    );
    expect([held.phase, paused.phase, paused.paused]).toEqual(["Paused (analysis)", "Paused", true]);
  });

  it("carries a stale badge for a flag fully on past staleAfter, and none for a ramping one", () => {
    const on = flag(
      "old",
      { phase: "Completed", currentPercent: 100, effectiveSince: "2026-01-01T00:00:00Z" },
      { enabled: true, rollout: { percent: 100 }, staleAfter: "30d" },
    );
    expect(flagRow(on, NOW).stale).toMatchObject({ reason: "FullyOn" });
    expect(flagRow(flag("ramp", { phase: "Progressing", currentPercent: 5 }), NOW).stale).toBeNull();
  });
});

describe("filterFlags", () => {
  const rows = [
    flagRow(flag("checkout", rolledBack), NOW),
    flagRow(
      flag("search", { phase: "Progressing", currentPercent: 5 }, { ...canary, owner: "team-search" }),
      NOW,
    ),
    flagRow(flag("banner", { phase: "Completed", currentPercent: 100 }, canary, "web"), NOW),
  ];
  const names = (f: Parameters<typeof filterFlags>[1]) => filterFlags(rows, f).map((r) => r.name);

  it("matches every word, in any case, against key, owner, namespace and description", () => {
    expect(names({ text: "TEAM-search" })).toEqual(["search"]);
    expect(names({ text: "checkout shop" })).toEqual(["checkout", "search"]);
    expect(names({ text: "web new" })).toEqual(["banner"]);
    expect(names({ text: "nothing-like-this" })).toEqual([]);
  });

  it("narrows by namespace, phase and staleness", () => {
    expect(names({ namespace: "web" })).toEqual(["banner"]);
    expect(names({ phase: "RolledBack" })).toEqual(["checkout"]);
    // Off (rolled back) or fully on since January: past the 90-day default.
    expect(names({ staleOnly: true })).toEqual(["checkout", "banner"]);
    expect(names({})).toEqual(["checkout", "search", "banner"]);
  });
});

describe("buildTimeline", () => {
  it("marks steps done, failed and to come, and orders dated records oldest first", () => {
    const { steps, events } = buildTimeline(flag("checkout", rolledBack));
    expect(steps.map((s) => `${s.percent}:${s.state}`)).toEqual(["5:done", "25:failed", "100:pending"]);
    expect(steps[1]?.startedAt).toBe("2026-06-01T11:00:00.000Z");
    expect(events.map((e) => e.title)).toEqual([
      "Step 2/3 started",
      "Analysis Failed (2 consecutive failures)",
      "Rolled back to 0% at step 2 (was 25%)",
      "Killed",
    ]);
    expect(events.find((e) => e.kind === "rollback")?.detail).toContain("Alert CheckoutErrors");
    expect(events.find((e) => e.kind === "control")).toMatchObject({ detail: "by ann@example.com · pager" });
  });

  it("shows the step in force as current and every step done once Completed", () => {
    const progressing = buildTimeline(flag("a", { phase: "Progressing", currentStepIndex: 1 }));
    expect(progressing.steps.map((s) => s.state)).toEqual(["done", "current", "pending"]);
    const done = buildTimeline(flag("a", { phase: "Completed", currentStepIndex: 2 }));
    expect(done.steps.map((s) => s.state)).toEqual(["done", "done", "done"]);
  });

  it("lists pushed alerts, analysis-loop checks, promote requests and conditions, undated last", () => {
    const { events } = buildTimeline(
      flag("a", {
        phase: "Progressing",
        pushedAlert: { at: "2026-06-01T10:00:00Z", result: "Failed", alertName: "Errors" },
        analysisOutcome: { at: "2026-06-01T09:00:00Z", result: "Passed", query: "rate(x)", value: 0.01 },
        controls: { promote: { by: "cy", full: true } },
        conditions: [{ type: "Ready", status: "True", lastTransitionTime: "2026-06-01T08:00:00Z" }],
      }),
    );
    expect(events.map((e) => `${e.kind}:${e.title}`)).toEqual([
      "condition:Ready=True",
      "analysis:Analysis loop check: Passed",
      "alert:Alertmanager push: Failed",
      "control:Promote requested",
    ]);
    expect(events.at(-1)?.detail).toBe("by cy · to the target");
    expect(events[1]?.detail).toBe("rate(x) · value 0.01");
  });

  it("merges the operator's Kubernetes Events by time, warnings as bad news, repeats counted", () => {
    const { events } = buildTimeline(flag("checkout", rolledBack), [
      {
        type: "Normal",
        reason: "StepAdvanced",
        message: "advanced to step 2/3 (25%)",
        lastTimestamp: new Date("2026-06-01T11:00:00.500Z"),
      },
      {
        type: "Warning",
        reason: "AnalysisFailed",
        message: "alert firing",
        count: 3,
        eventTime: "2026-06-01T11:20:00Z",
      },
    ]);
    expect(events.map((e) => `${e.kind}:${e.title}:${e.tone}`)).toEqual([
      "rollout:Step 2/3 started:info",
      "event:StepAdvanced:info",
      "event:AnalysisFailed:bad",
      "analysis:Analysis Failed (2 consecutive failures):bad",
      "rollback:Rolled back to 0% at step 2 (was 25%):bad",
      "control:Killed:person",
    ]);
    expect(events[2]?.detail).toBe("alert firing (3 times)");
  });

  it("orders Events of the same second by when they were written", () => {
    const second = new Date("2026-06-01T10:00:00Z");
    const { events } = buildTimeline(flag("a"), [
      { reason: "RolledBack", lastTimestamp: second, metadata: { resourceVersion: "120" } },
      { reason: "RolloutStarted", lastTimestamp: second, metadata: { resourceVersion: "95" } },
    ]);
    expect(events.map((e) => e.title)).toEqual(["RolloutStarted", "RolledBack"]);
  });

  it("has no steps without a canary", () => {
    expect(buildTimeline(flag("a", undefined, { enabled: true, rollout: { percent: 50 } })).steps).toEqual(
      [],
    );
  });
});

describe("rollbackCause", () => {
  it("names the alert, else the value, else just the reason", () => {
    expect(rollbackCause({ reason: "Query", value: 0.2 })).toBe("Query value 0.2");
    expect(rollbackCause({ reason: "Manual", message: "aborted by ann" })).toBe("Manual: aborted by ann");
  });
});

describe("experimentView", () => {
  const spec = { ...canary, experiment: { conversionEvent: "purchase" } } as FeatureFlag["spec"];
  it("says there is none, or that results are pending, or passes results with their method", () => {
    expect(experimentView(flag("a")).state).toBe("none");
    expect(experimentView(flag("a", { experiment: { message: "waiting for Prometheus" } }, spec))).toEqual({
      state: "waiting",
      message: "no results yet (waiting for Prometheus)",
    });
    const view = experimentView(flag("a", { experiment: { variants: [], verdict: "Collecting" } }, spec));
    expect(view).toMatchObject({ state: "results", result: { method: "fixed", verdict: "Collecting" } });
  });
});

describe("debtView", () => {
  const stale = flag(
    "old",
    { phase: "Completed", currentPercent: 100, effectiveSince: "2026-01-01T00:00:00Z" },
    { enabled: true, owner: "team-a", rollout: { percent: 100 }, staleAfter: "30d" },
  );
  const fresh = flag("fresh", { phase: "Progressing", currentPercent: 5 });

  it("lists stale flags with owner and age, oldest first, without code references when none were given", () => {
    const view = debtView([fresh, stale], undefined, NOW);
    expect(view.refsGiven).toBe(false);
    expect(view.rows.map((r) => [r.key, r.owner, r.reason, r.references])).toEqual([
      ["old", "team-a", "FullyOn", null],
    ]);
    expect(view.rows[0]?.ageMs).toBe(NOW.getTime() - Date.parse("2026-01-01T00:00:00Z"));
  });

  it("with a refs report, adds unreferenced flags and the references of each, and keys no flag defines", () => {
    const ref = { key: "old", file: "web/src/checkout.ts", line: 12 };
    const view = debtView(
      [fresh, stale],
      {
        referenced: [{ flag: { key: "old", source: "shop/old" }, references: [ref] }],
        unreferenced: [{ key: "fresh", source: "shop/fresh" }],
        undefinedKeys: [{ key: "typo", references: [{ key: "typo", file: "a.py", line: 1 }] }],
      },
      NOW,
    );
    expect(view.rows.map((r) => [r.key, r.reason, r.references])).toEqual([
      ["old", "FullyOn", [ref]],
      ["fresh", "Unreferenced", []],
    ]);
    expect(view.undefinedKeys.map((u) => u.key)).toEqual(["typo"]);
  });

  it("finds references to cluster flags in a report made from code alone (every key undefined there)", () => {
    const ref = { key: "old", file: "web/src/checkout.ts", line: 12 };
    const view = debtView(
      [fresh, stale],
      { referenced: [], unreferenced: [], undefinedKeys: [{ key: "old", references: [ref] }] },
      NOW,
    );
    expect(view.rows.map((r) => [r.key, r.references])).toEqual([
      ["old", [ref]],
      ["fresh", []],
    ]);
    expect(view.undefinedKeys).toEqual([]);
  });
});
