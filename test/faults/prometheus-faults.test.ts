// Canary analysis against a real Prometheus (Debian's package, scraping a real metrics app) seen
// through a fault-injecting proxy: HTTP errors, answers past the client's deadline, truncated and
// malformed JSON, dropped connections, and a watched alert that flaps. The analysis runner and the
// step machine run as in the operator (AnalysisRunner.tick, then decide() with its outcome), on
// the real clock with one-second pauses and checks. Users rely on: a check that could not be
// evaluated is Unavailable and never advances a step; one transient error never rolls back
// (only an outage longer than rollbackAfterUnavailableMs, when configured, does); a flapping
// alert rolls back only after failureLimit consecutive failed checks.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FeatureFlag, FeatureFlagSpec, FeatureFlagStatus } from "../../src/api/index.js";
import { analyzeFlag } from "../../src/rollout/analysis.js";
import { PrometheusClient } from "../../src/rollout/prometheus.js";
import { AnalysisRunner } from "../../src/rollout/runner.js";
import {
  type AnalysisOutcome,
  decide,
  findCondition,
  type RolloutDecision,
  type RolloutOptions,
} from "../../src/rollout/steps.js";
import { type Fault, type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { type MetricsApp, startMetricsApp } from "../support/metrics-app.js";
import { type PrometheusHandle, startPrometheus } from "../support/prometheus.js";
import { waitFor } from "../support/wait.js";

const FLAG = "checkout";
const ALERT = "FlagwrightFlagErrorRateHigh";
// Generous for a busy machine: a healthy answer must never time out, or a flap would be lost.
const CLIENT_TIMEOUT_MS = 1000;
const errorRate = `sum(rate(http_requests_total{flag="${FLAG}",code=~"5.."}[1m])) / sum(rate(http_requests_total{flag="${FLAG}"}[1m]))`;

type Analysis = NonNullable<NonNullable<NonNullable<FeatureFlagSpec["rollout"]>["canary"]>["analysis"]>;

function canarySpec(pause: string, analysis: Partial<Analysis> = {}): FeatureFlagSpec {
  return {
    enabled: true,
    rollout: {
      percent: 100,
      canary: {
        steps: [{ percent: 10, pause }, { percent: 50, pause }, { percent: 100 }],
        analysis: {
          alerts: [{ alertName: ALERT, matchLabels: { flag: FLAG } }],
          query: { promql: errorRate, threshold: 0.05 },
          interval: "1s",
          ...analysis,
        },
      },
    },
  };
}

let app: MetricsApp;
let prometheus: PrometheusHandle;
let proxy: FaultProxy;
let client: PrometheusClient;

/**
 * One flag driven as the operator drives it: every round runs the analysis checks that are due
 * (AnalysisRunner.tick) and feeds the latest outcome to decide(), keeping every decision.
 */
function ramp(spec: FeatureFlagSpec, options: RolloutOptions = {}) {
  const flag: FeatureFlag = {
    apiVersion: "flagwright.dev/v1alpha1",
    kind: "FeatureFlag",
    metadata: { name: FLAG, namespace: "faults", uid: randomUUID(), generation: 1 },
    spec,
  } as FeatureFlag;
  // The latest persisted outcome stands in for status.analysisOutcome.
  let latest: AnalysisOutcome | undefined;
  const persist = async (_flag: FeatureFlag, outcome: AnalysisOutcome) => {
    latest = outcome;
  };
  const runner = new AnalysisRunner({ client, listFlags: () => [flag], persist, enqueue: () => {} });
  const decisions: RolloutDecision[] = [];
  const round = async () => {
    await runner.tick();
    const decision = decide({
      spec,
      generation: 1,
      ...(flag.status && { status: flag.status }),
      now: new Date(),
      ...(latest && { analysis: latest }),
      options,
    });
    decisions.push(decision);
    flag.status = decision.status;
    return decision.status;
  };
  return {
    decisions,
    get status(): FeatureFlagStatus {
      return flag.status ?? {};
    },
    /** Runs rounds (as the operator's requeues would) until `test` holds for the status. */
    until: (test: (s: FeatureFlagStatus) => boolean, what: string, timeoutMs = 15_000) =>
      waitFor(async () => test(await round()), { timeoutMs, intervalMs: 100, what }),
    /** Checks recorded so far (each distinct lastAnalysis.at). */
    checks: () => new Set(decisions.map((d) => d.status.lastAnalysis?.at).filter(Boolean)).size,
  };
}

const FAULTS: [string, Fault][] = [
  [
    "HTTP 500 with Prometheus' error envelope",
    { kind: "status", status: 500, body: '{"status":"error","errorType":"internal","error":"injected"}' },
  ],
  [
    "HTTP 503 with an HTML page",
    { kind: "status", status: 503, body: "<html>Service Unavailable</html>", contentType: "text/html" },
  ],
  ["an answer slower than the client's deadline", { kind: "delay", ms: CLIENT_TIMEOUT_MS * 3 }],
  ["truncated JSON", { kind: "truncate" }],
  ["JSON that is not a Prometheus envelope", { kind: "status", status: 200, body: '{"hello":"world"}' }],
  [
    "success with malformed data",
    {
      kind: "status",
      status: 200,
      body: '{"status":"success","data":{"resultType":"vector","result":[{"value":"oops"}],"alerts":["oops"]}}',
    },
  ],
  ["a dropped connection", { kind: "reset" }],
];

beforeAll(async () => {
  app = await startMetricsApp();
  app.setErrorRatio(FLAG, 0);
  // The namespace label Kubernetes discovery would add: the runner confines the flag's query to it.
  prometheus = await startPrometheus({ targets: [app.target], targetLabels: { namespace: "faults" } });
  proxy = await startFaultProxy(prometheus.url);
  client = new PrometheusClient({ address: proxy.url, timeoutMs: CLIENT_TIMEOUT_MS });
  // The query has data (two scrapes) before any scenario relies on a passing check.
  const probe = { metadata: { name: FLAG }, spec: canarySpec("1s") } as FeatureFlag;
  await waitFor(async () => (await analyzeFlag(probe, client, new Date())).result === "Passed", {
    timeoutMs: 30_000,
    what: "a passing analysis against healthy Prometheus",
  });
});

afterAll(async () => {
  await proxy?.close();
  await prometheus?.dispose();
  await app?.stop();
});

describe("Prometheus faults", () => {
  for (const [name, fault] of FAULTS) {
    it(`${name}: checks are Unavailable, the step holds, nothing rolls back; healed, the ramp goes on`, async () => {
      const flag = ramp(canarySpec("1s"));
      proxy.fault = fault;
      try {
        // Past the step's pause and through at least two failed checks.
        await flag.until(
          (s) => flag.checks() >= 2 && Date.now() - Date.parse(s.stepStartedAt ?? "") > 1500,
          "two checks during the fault",
        );
      } finally {
        proxy.fault = { kind: "none" };
      }
      for (const { status } of flag.decisions) {
        expect(status).toMatchObject({ phase: "Progressing", currentStepIndex: 0, currentPercent: 10 });
        expect(status.lastAnalysis?.result ?? "Unavailable").toBe("Unavailable");
        expect(status.lastAnalysis?.consecutiveFailures ?? 0).toBe(0);
      }
      expect(findCondition(flag.status.conditions, "AnalysisUnavailable")?.status).toBe("True");
      await flag.until((s) => s.currentStepIndex === 1, "the ramp to advance once Prometheus is healthy");
      expect(flag.status.lastAnalysis?.result).toBe("Passed");
      expect(findCondition(flag.status.conditions, "AnalysisUnavailable")?.status).toBe("False");
    });
  }

  it("an alerts answer with a malformed entry is Unavailable even though the query passes", async () => {
    // The entry could be the watched alert: dropping it would pass analysis on bad data.
    proxy.rewrite.set("/api/v1/alerts", (body) => {
      (body.data as { alerts: unknown[] }).alerts.push({ labels: "garbled", state: "firing" });
      return body;
    });
    try {
      const flag = ramp(canarySpec("1s"));
      await flag.until(
        (s) => flag.checks() >= 2 && Date.now() - Date.parse(s.stepStartedAt ?? "") > 1500,
        "two checks",
      );
      expect(flag.status).toMatchObject({ currentStepIndex: 0, lastAnalysis: { result: "Unavailable" } });
      expect(flag.status.lastAnalysis?.message).toMatch(/malformed alerts response/);
    } finally {
      proxy.rewrite.delete("/api/v1/alerts");
    }
  });

  it("one transient error never rolls back, even with rollbackAfterUnavailableMs configured", async () => {
    const flag = ramp(canarySpec("1s"), { rollbackAfterUnavailableMs: 3000 });
    await flag.until((s) => s.lastAnalysis?.result === "Passed", "a first passing check");
    proxy.fault = FAULTS[0]?.[1] as Fault;
    try {
      await flag.until((s) => s.lastAnalysis?.result === "Unavailable", "one failed check");
    } finally {
      proxy.fault = { kind: "none" };
    }
    await flag.until((s) => s.phase === "Completed", "the ramp to complete");
    expect(flag.decisions.some((d) => d.status.phase === "RolledBack")).toBe(false);
    expect(flag.status.rollback).toBeUndefined();
  });

  it("an outage longer than rollbackAfterUnavailableMs rolls back (and only when configured)", async () => {
    const configured = ramp(canarySpec("1s"), { rollbackAfterUnavailableMs: 2000 });
    const unconfigured = ramp(canarySpec("1s"));
    proxy.fault = FAULTS[0]?.[1] as Fault;
    try {
      await configured.until((s) => s.phase === "RolledBack", "the configured flag to roll back");
      const rolledBackAt = Date.now();
      await unconfigured.until(
        () => Date.now() - rolledBackAt > 2500,
        "the unconfigured flag to see the same outage",
      );
    } finally {
      proxy.fault = { kind: "none" };
    }
    expect(configured.status).toMatchObject({
      currentPercent: 0,
      rollback: { reason: "AnalysisUnavailable" },
    });
    expect(unconfigured.status).toMatchObject({ phase: "Progressing", currentStepIndex: 0 });
    expect(unconfigured.status.rollback).toBeUndefined();
  });

  it("a flapping alert (firing, resolved, firing, ...) rolls back only after failureLimit consecutive firing checks", async () => {
    // Each check reads /api/v1/alerts once; the proxy adds the watched alert as firing or not.
    const pattern = [true, false, true, false, true, true];
    let served = 0;
    proxy.rewrite.set("/api/v1/alerts", (body) => {
      const firing = pattern[served++] ?? true;
      const data = body.data as { alerts: unknown[] };
      if (firing) {
        data.alerts.push({
          labels: { alertname: ALERT, flag: FLAG, severity: "critical" },
          annotations: {},
          state: "firing",
          activeAt: new Date().toISOString(),
          value: "0.5",
        });
      }
      return body;
    });
    try {
      const flag = ramp(canarySpec("1h", { failureLimit: 2 }));
      await flag.until((s) => s.phase === "RolledBack", "the second consecutive firing check to roll back");
      const trail = flag.decisions
        .map((d) => d.status.lastAnalysis)
        .filter((a, i, all) => a && a.at !== all[i - 1]?.at)
        .map((a) => `${a?.result}:${a?.consecutiveFailures}`);
      expect(trail).toEqual(["Failed:1", "Passed:0", "Failed:1", "Passed:0", "Failed:1", "Failed:2"]);
      expect(flag.status.rollback).toMatchObject({ reason: "Alert", alertName: ALERT });

      // With the default failureLimit (1) the first firing check rolls back.
      served = 0;
      const strict = ramp(canarySpec("1h"));
      await strict.until((s) => s.phase === "RolledBack", "the first firing check to roll back");
      expect(strict.checks()).toBe(1);
    } finally {
      proxy.rewrite.delete("/api/v1/alerts");
    }
  });
});
