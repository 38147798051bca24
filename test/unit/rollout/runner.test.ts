// The analysis loop: checks only flags whose analysis is due, shares one alerts request per tick,
// and persists each outcome (as the operator does, in status) before enqueueing the flag; decide()
// rolls back on the persisted outcome.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import type { FeatureFlag, FeatureFlagStatus } from "../../../src/api/index.js";
import {
  type PrometheusAlert,
  type PrometheusApi,
  PrometheusClient,
  type QueryValue,
} from "../../../src/rollout/prometheus.js";
import { AnalysisRunner } from "../../../src/rollout/runner.js";
import { type AnalysisOutcome, decide } from "../../../src/rollout/steps.js";

const NOW = new Date("2026-01-01T00:10:00.000Z");
const ramping: FeatureFlagStatus = {
  observedGeneration: 1,
  phase: "Progressing",
  currentStepIndex: 0,
  currentPercent: 5,
  stepStartedAt: "2026-01-01T00:00:00.000Z",
};
const flag = (name: string, status?: FeatureFlagStatus): FeatureFlag => ({
  apiVersion: "flagwright.dev/v1alpha1",
  kind: "FeatureFlag",
  metadata: { name, namespace: "ns", uid: `uid-${name}`, generation: 1 },
  spec: {
    enabled: true,
    rollout: {
      percent: 100,
      canary: {
        steps: [{ percent: 5, pause: "1m" }, { percent: 100 }],
        analysis: { alerts: [{ alertName: "ErrorRateHigh", matchLabels: { flag: name } }], interval: "30s" },
      },
    },
  },
  ...(status && { status }),
});

/** The runner's persist, recording outcomes by flag name (the operator writes them to status). */
function persisted() {
  const outcomes = new Map<string, AnalysisOutcome>();
  return {
    outcomes,
    persist: async (f: FeatureFlag, outcome: AnalysisOutcome) => {
      outcomes.set(f.metadata.name ?? "", outcome);
    },
    of: (f: FeatureFlag | undefined) => outcomes.get(f?.metadata.name ?? ""),
  };
}

/** A Prometheus API double that counts requests (the real one is in the integration suite). */
function fakePrometheus(firing: string[]): PrometheusApi & { calls: number } {
  const api = {
    address: "http://prometheus",
    calls: 0,
    async alerts(): Promise<PrometheusAlert[]> {
      api.calls++;
      return firing.map((f) => ({
        labels: { alertname: "ErrorRateHigh", flag: f },
        annotations: {},
        state: "firing",
      }));
    },
    async query(): Promise<QueryValue> {
      return { kind: "empty" };
    },
  };
  return api;
}

describe("AnalysisRunner", () => {
  it("checks due flags only, with one alerts request per tick, and enqueues them", async () => {
    const prometheus = fakePrometheus(["b"]);
    const flags = [
      flag("a", ramping),
      flag("b", ramping),
      flag("fresh", { ...ramping, lastAnalysis: { at: "2026-01-01T00:09:50.000Z", result: "Passed" } }),
      flag("done", { ...ramping, phase: "Completed" }),
      flag("new"),
    ];
    const enqueued: string[] = [];
    const recorded = persisted();
    const runner = new AnalysisRunner({
      client: prometheus,
      listFlags: () => flags,
      persist: recorded.persist,
      enqueue: (f) => enqueued.push(f.metadata.name ?? ""),
      now: () => NOW,
    });
    await runner.tick();
    expect(enqueued.sort()).toEqual(["a", "b"]);
    expect(prometheus.calls).toBe(1);
    expect(recorded.of(flags[0])).toMatchObject({ result: "Passed", at: NOW });
    const b = flags[1] as FeatureFlag;
    expect(recorded.of(b)).toMatchObject({ result: "Failed", alertName: "ErrorRateHigh" });
    expect(recorded.of(flags[2])).toBeUndefined();

    // The operator's reconcile with that outcome rolls b back, and does it once.
    const d = decide({
      spec: b.spec,
      generation: 1,
      status: b.status,
      now: NOW,
      analysis: recorded.of(b),
    });
    expect(d.status).toMatchObject({
      phase: "RolledBack",
      rollback: { reason: "Alert", alertName: "ErrorRateHigh" },
    });
  });

  it("does not enqueue a flag whose outcome could not be persisted, so its check runs again", async () => {
    const flags = [flag("a", ramping)];
    const enqueued: string[] = [];
    const runner = new AnalysisRunner({
      client: fakePrometheus([]),
      listFlags: () => flags,
      persist: () => Promise.reject(new Error("conflict")),
      enqueue: (f) => enqueued.push(f.metadata.name ?? ""),
      now: () => NOW,
    });
    await runner.tick();
    expect(enqueued).toEqual([]);
  });

  it("asks a flag's own allow-listed Prometheus, one alerts request per address per tick", async () => {
    // Two loopback Prometheus HTTP APIs counting /api/v1/alerts; the one "b" and "c" name fires.
    const started: Server[] = [];
    const prometheus = async (firing: string[]) => {
      const counter = { calls: 0, address: "" };
      const server = createServer((req, res) => {
        if (req.url?.startsWith("/api/v1/alerts")) counter.calls++;
        const alerts = firing.map((f) => ({
          labels: { alertname: "ErrorRateHigh", flag: f },
          state: "firing",
        }));
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ status: "success", data: { alerts } }));
      });
      started.push(server);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      counter.address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      return counter;
    };
    try {
      const operator = await prometheus([]);
      const team = await prometheus(["b", "c"]);
      const own = (name: string, address: string): FeatureFlag => {
        const f = flag(name, ramping);
        const analysis = f.spec.rollout?.canary?.analysis;
        if (analysis) analysis.prometheus = { address };
        return f;
      };
      const flags = [flag("a", ramping), own("b", team.address), own("c", `${team.address}/`)];
      const recorded = persisted();
      const runner = new AnalysisRunner({
        client: new PrometheusClient({ address: operator.address }),
        access: { allowedAddresses: [team.address] },
        listFlags: () => flags,
        persist: recorded.persist,
        enqueue: () => {},
        now: () => NOW,
      });
      await runner.tick();
      expect(flags.map((f) => recorded.of(f)?.result)).toEqual(["Passed", "Failed", "Failed"]);
      expect([operator.calls, team.calls]).toEqual([1, 1]);

      // Off the allow-list and without a credentials Secret, the address is never contacted.
      const refused = persisted();
      const refusing = new AnalysisRunner({
        client: new PrometheusClient({ address: operator.address, bearerToken: "operator-token" }),
        listFlags: () => flags,
        persist: refused.persist,
        enqueue: () => {},
        now: () => NOW,
      });
      await refusing.tick();
      expect(refused.of(flags[1])).toMatchObject({ result: "Unavailable" });
      expect(refused.of(flags[1])?.message).toContain("spec.rollout.canary.analysis.prometheus.address");
      expect(team.calls).toBe(1);
    } finally {
      await Promise.all(started.map((s) => new Promise((resolve) => s.close(resolve))));
    }
  });
});
