// The manual controls' transition rules, the status table, and the contract with the step machine: a
// control patch applied to status is honoured by decide(), even when the plugin's clock runs
// behind the operator's.
import { describe, expect, it } from "vitest";
import type { FeatureFlag, FeatureFlagStatus } from "../../../src/api/index.js";
import { statusTable } from "../../../src/cli/kubectl-plugin/table.js";
import { type ControlCommand, planControl, TransitionError } from "../../../src/controls/transitions.js";
import { decide } from "../../../src/rollout/steps.js";

const NOW = new Date("2026-01-01T12:00:00.000Z");
const spec: FeatureFlag["spec"] = {
  enabled: true,
  rollout: {
    percent: 100,
    canary: { steps: [{ percent: 1, pause: "1h" }, { percent: 25, pause: "1h" }, { percent: 100 }] },
  },
};
const flagWith = (status: FeatureFlagStatus | undefined, s: FeatureFlag["spec"] = spec): FeatureFlag => ({
  apiVersion: "flagwright.dev/v1alpha1",
  kind: "FeatureFlag",
  metadata: { name: "checkout", generation: 1 },
  spec: s,
  ...(status && { status }),
});
const progressing: FeatureFlagStatus = {
  observedGeneration: 1,
  phase: "Progressing",
  currentStepIndex: 0,
  currentPercent: 1,
  stepStartedAt: "2026-01-01T11:59:00.000Z",
};
const plan = (command: ControlCommand, status: FeatureFlagStatus | undefined, extra = {}, s = spec) =>
  planControl(flagWith(status, s), { command, by: "ann", now: NOW, ...extra });
const refused = (
  command: ControlCommand,
  status: FeatureFlagStatus | undefined,
  message: RegExp,
  s = spec,
) => {
  expect(() => plan(command, status, {}, s)).toThrow(TransitionError);
  expect(() => plan(command, status, {}, s)).toThrow(message);
};

/** Merge-patches controls into status like the API server would (null deletes). */
function applyControls(status: FeatureFlagStatus, controls: Record<string, unknown>): FeatureFlagStatus {
  const next = { ...status.controls } as Record<string, unknown>;
  for (const [k, v] of Object.entries(controls)) {
    if (v === null) delete next[k];
    else next[k] = v;
  }
  return { ...status, controls: next };
}

describe("allowed transitions", () => {
  it("kill and revive", () => {
    const k = plan("kill", progressing, { reason: "incident 7" });
    expect(k.controls).toEqual({ killed: { at: NOW.toISOString(), by: "ann", reason: "incident 7" } });
    expect(k.summary).toContain("serves off");
    refused("kill", applyControls(progressing, k.controls), /already killed \(by ann/);
    expect(plan("revive", applyControls(progressing, k.controls)).controls).toEqual({ killed: null });
    refused("revive", progressing, /is not killed/);
  });

  it("pause and resume", () => {
    const p = plan("pause", progressing);
    expect(p.controls.paused).toMatchObject({ by: "ann" });
    refused("pause", applyControls(progressing, p.controls), /already paused/);
    expect(plan("resume", applyControls(progressing, p.controls)).controls).toEqual({ paused: null });
    refused("resume", progressing, /not paused/);
    refused("resume", { ...progressing, phase: "Paused" }, /held by failed analysis/);
    refused("pause", { ...progressing, phase: "Completed" }, /already Completed/);
  });

  it("promote (and --full), refused when Completed, RolledBack, static or not started", () => {
    expect(plan("promote", progressing).controls.promote).toEqual({
      at: NOW.toISOString(),
      by: "ann",
      full: false,
    });
    expect(plan("promote", progressing).summary).toContain("step 2/3 at 25%");
    expect(plan("promote", progressing, { full: true }).summary).toContain("target 100%");
    refused(
      "promote",
      { ...progressing, phase: "Completed", currentPercent: 100 },
      /already Completed at 100%/,
    );
    refused("promote", { ...progressing, phase: "RolledBack", rollback: { reason: "Alert" } }, /use retry/);
    refused("promote", undefined, /not started its rollout/);
    refused("promote", { phase: "Completed" }, /no canary/, { enabled: true });
    refused("promote", { ...progressing, phase: "Disabled" }, /Disabled/);
  });

  it("abort, and retry only after a rollback", () => {
    expect(plan("abort", progressing, { reason: "tickets" }).controls.abort).toMatchObject({
      reason: "tickets",
    });
    refused("abort", { ...progressing, phase: "RolledBack" }, /RolledBack/);
    refused("retry", progressing, /is Progressing, not RolledBack/);
    const rolledBack: FeatureFlagStatus = {
      ...progressing,
      phase: "RolledBack",
      currentPercent: 0,
      rollback: { at: "2026-01-01T11:59:30.000Z", reason: "Manual" },
    };
    expect(plan("retry", rolledBack).controls.retry).toMatchObject({ by: "ann" });
  });

  it("warns when the operator has not seen the latest generation", () => {
    const f = flagWith(progressing);
    f.metadata.generation = 2;
    expect(planControl(f, { command: "pause", by: "ann", now: NOW }).warnings[0]).toContain("generation 2");
  });
});

describe("contract with the step machine", () => {
  // The operator's clock is 5 minutes ahead of the plugin's: status times are "in the future".
  const operatorNow = new Date(NOW.getTime() + 5 * 60_000);
  const ahead = (status: FeatureFlagStatus) =>
    decide({ spec, generation: 1, status, now: operatorNow }).status;
  const started = decide({ spec, generation: 1, now: new Date(operatorNow.getTime() - 1000) }).status;

  it.each([
    [
      "promote",
      started,
      (s: FeatureFlagStatus) => expect(s).toMatchObject({ currentStepIndex: 1, currentPercent: 25 }),
    ],
    [
      "abort",
      started,
      (s: FeatureFlagStatus) => expect(s).toMatchObject({ phase: "RolledBack", currentPercent: 0 }),
    ],
    ["pause", started, (s: FeatureFlagStatus) => expect(s.phase).toBe("Paused")],
  ] as const)("%s is honoured despite a plugin clock behind the operator's", (command, status, check) => {
    const p = planControl(flagWith(status), { command, by: "ann", now: NOW });
    check(ahead(applyControls(status, p.controls)));
  });

  it("retry is honoured after a rollback stamped by the operator's clock", () => {
    const rolledBack = ahead(applyControls(started, plan("abort", started).controls));
    expect(rolledBack.phase).toBe("RolledBack");
    const p = planControl(flagWith(rolledBack), { command: "retry", by: "ann", now: NOW });
    const after = decide({
      spec,
      generation: 1,
      status: applyControls(rolledBack, p.controls),
      now: new Date(operatorNow.getTime() + 1000),
    }).status;
    expect(after).toMatchObject({ phase: "Progressing", currentStepIndex: 0, currentPercent: 1 });
  });
});

describe("status table", () => {
  it("shows key, phase, step, current, target, last analysis and rollback reason", () => {
    const flags: FeatureFlag[] = [
      flagWith({ ...progressing, lastAnalysis: { at: "2026-01-01T11:59:50.000Z", result: "Passed" } }),
      {
        ...flagWith({
          phase: "RolledBack",
          currentPercent: 0,
          currentStepIndex: 1,
          rollback: {
            reason: "Alert",
            alertName: "FlagwrightFlagErrorRateHigh",
            at: "2026-01-01T11:58:00.000Z",
          },
          lastAnalysis: { at: "2026-01-01T11:58:00.000Z", result: "Failed", consecutiveFailures: 2 },
        }),
        metadata: { name: "search" },
      },
      {
        ...flagWith(
          {
            phase: "Completed",
            currentPercent: 25,
            controls: { killed: { at: "x" } },
            nextScheduledChange: "2026-01-03T12:00:00.000Z",
          },
          { enabled: true, key: "banner", rollout: { percent: 25 } },
        ),
      },
    ];
    const table = statusTable(flags, NOW).split("\n");
    expect(table[0]).toMatch(
      /^KEY\s+PHASE\s+STEP\s+CURRENT\s+TARGET\s+LAST ANALYSIS\s+ROLLBACK\s+NEXT CHANGE$/,
    );
    expect(table[1]).toMatch(/^checkout\s+Progressing\s+1\/3\s+1%\s+100%\s+Passed 10s ago\s+-\s+-$/);
    expect(table[2]).toMatch(
      /^search\s+RolledBack\s+2\/3\s+0%\s+100%\s+Failed x2 2m ago\s+Alert FlagwrightFlagErrorRateHigh/,
    );
    expect(table[3]).toMatch(/^banner\s+Completed\s+-\s+25% \(killed\)\s+25%/);
    expect(table[3]).toMatch(/2026-01-03T12:00:00.000Z \(in 2d\)$/);
  });
});
