// Two operator replicas with leader election; the leader is SIGKILLed at the instant a canary step
// is due to advance, and again right as it rolls a canary back on a firing alert. The standby
// takes over (3 s lease) and exactly one transition happens: etcd's history of the flag shows each
// step started once and one rollback record, the ConfigMap walks the steps once, and at most one
// Event is recorded per transition (an Event can be lost when the kill falls between the status
// write and the Event, never duplicated). Private control plane, real Prometheus for the alert.
import { afterAll, beforeAll, expect, it } from "vitest";
import { ERROR_RATE_ALERT, watchErrorRateAlert } from "../support/analysis-stack.js";
import { canarySpec, createFlag, getFlag } from "../support/flag-objects.js";
import { type MetricsApp, startMetricsApp } from "../support/metrics-app.js";
import { type OperatorProcess, startOperator } from "../support/operator.js";
import { type PrometheusHandle, startPrometheus } from "../support/prometheus.js";
import { waitFor } from "../support/wait.js";
import { type PrivateControlPlane, startPrivateControlPlane } from "./support/control-plane.js";
import { configMapHistory, flagHistory, trail } from "./support/history.js";

const APPS = "leader-apps";
const SYSTEM = "leader-system";
const PAUSE_MS = 2_000;

let plane: PrivateControlPlane;
let app: MetricsApp;
let prometheus: PrometheusHandle;
const replicas: OperatorProcess[] = [];

beforeAll(async () => {
  plane = await startPrivateControlPlane({ namespaces: [APPS, SYSTEM] });
  app = await startMetricsApp();
  app.setErrorRatio("guarded", 0);
  prometheus = await startPrometheus({ targets: [app.target] });
}, 120_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await prometheus?.dispose();
  await app?.stop();
  await plane?.dispose();
});

const startReplica = async () => {
  const replica = await startOperator(
    [
      "--namespaces",
      APPS,
      "--prometheus-url",
      prometheus.url,
      "--leader-elect",
      "--leader-election-namespace",
      SYSTEM,
      "--leader-election-lease-duration",
      "3s",
      "--leader-election-renew-deadline",
      "2s",
      "--leader-election-retry-period",
      "500ms",
    ],
    { kubeconfig: plane.kubeconfig },
  );
  replicas.push(replica);
  return replica;
};
const alive = (r: OperatorProcess) => r.child.exitCode === null && r.child.signalCode === null;
const leads = (r: OperatorProcess) => r.logs.some((l) => l.reason === "Acquired");

/** The live leader plus a live standby that has started. */
async function leaderAndStandby(): Promise<[OperatorProcess, OperatorProcess]> {
  while (replicas.filter(alive).length < 2) await startReplica();
  const leader = await waitFor(() => replicas.find((r) => alive(r) && leads(r)), {
    timeoutMs: 10_000,
    what: "a leader",
  });
  return [leader, replicas.find((r) => alive(r) && r !== leader) as OperatorProcess];
}

async function eventsFor(name: string, reason: string) {
  const events = await plane.core.listNamespacedEvent({
    namespace: APPS,
    fieldSelector: `involvedObject.name=${name}`,
  });
  return events.items.filter((e) => e.reason === reason);
}

it("leader SIGKILLed as a step is due: the standby takes over and the step advances exactly once", async () => {
  const [leader, standby] = await leaderAndStandby();
  await createFlag(plane.custom, APPS, "stepper", canarySpec([10, 50], `${PAUSE_MS / 1000}s`));
  const first = await waitFor(
    async () => {
      const s = (await getFlag(plane.custom, APPS, "stepper")).status;
      return s?.phase === "Progressing" && s.currentStepIndex === 0 && s.stepStartedAt !== undefined && s;
    },
    { what: "stepper at its first step" },
  );
  // The leader's timer fires at the end of the pause: kill it then, give or take a reconcile.
  const due = Date.parse(first.stepStartedAt as string) + PAUSE_MS;
  const jitter = Math.floor(Math.random() * 30);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, due + jitter - Date.now())));
  const killedAt = Date.now();
  await leader.kill();
  console.log(`[faults] leader killed ${killedAt - due} ms after the step was due`);

  await waitFor(() => leads(standby), { timeoutMs: 10_000, what: "the standby to take over" });
  const done = await waitFor(
    async () => {
      const s = (await getFlag(plane.custom, APPS, "stepper")).status;
      return s?.phase === "Completed" && s;
    },
    { timeoutMs: 20_000, what: "stepper to complete under the new leader" },
  );
  expect(done.currentPercent).toBe(100);

  const statuses = (await flagHistory(plane, APPS, "stepper")).map((v) => v.flag.status).filter((s) => s);
  expect(trail(statuses, (s) => s?.currentStepIndex)).toEqual([0, 1]);
  const startsOfStep2 = new Set(
    statuses.filter((s) => s?.currentStepIndex === 1 && s.phase !== "Completed").map((s) => s?.stepStartedAt),
  );
  expect([...startsOfStep2]).toHaveLength(1);
  const docs = await configMapHistory(plane, APPS);
  expect(trail(docs, (d) => d.doc.flags.stepper?.percent)).toEqual([10, 50, 100]);
  const advanced = await eventsFor("stepper", "StepAdvanced");
  expect(advanced.length).toBeLessThanOrEqual(1);
  console.log(`[faults] StepAdvanced events after the hand-over: ${advanced.length}`);
}, 60_000);

it("leader SIGKILLed as it rolls back on a firing alert: exactly one rollback", async () => {
  const [leader, standby] = await leaderAndStandby();
  await createFlag(
    plane.custom,
    APPS,
    "guarded",
    canarySpec([10, 100], "1h", { ...watchErrorRateAlert("guarded"), interval: "1s" }),
  );
  await waitFor(
    async () => {
      const s = (await getFlag(plane.custom, APPS, "guarded")).status;
      return s?.phase === "Progressing" && s.lastAnalysis?.result === "Passed";
    },
    { timeoutMs: 15_000, what: "guarded at its first step with a passed check" },
  );
  app.setErrorRatio("guarded", 0.5);
  // The leader logs the failed check just before it enqueues the rollback: kill it there.
  await waitFor(
    () => leader.logs.some((l) => l.msg === "analysis" && l.flag === "guarded" && l.result === "Failed"),
    { timeoutMs: 30_000, intervalMs: 2, what: "the leader to see the alert" },
  );
  await leader.kill();

  await waitFor(() => leads(standby), { timeoutMs: 10_000, what: "the standby to take over" });
  const rolledBack = await waitFor(
    async () => {
      const s = (await getFlag(plane.custom, APPS, "guarded")).status;
      return s?.phase === "RolledBack" && s;
    },
    { timeoutMs: 20_000, what: "guarded rolled back" },
  );
  expect(rolledBack.rollback).toMatchObject({ reason: "Alert", alertName: ERROR_RATE_ALERT, percent: 10 });
  const statuses = (await flagHistory(plane, APPS, "guarded")).map((v) => v.flag.status).filter((s) => s);
  expect(new Set(statuses.map((s) => s?.rollback?.at).filter(Boolean)).size).toBe(1);
  expect(trail(statuses, (s) => s?.phase)).toEqual(["Progressing", "RolledBack"]);
  const docs = await configMapHistory(plane, APPS);
  expect(trail(docs, (d) => d.doc.flags.guarded?.percent)).toEqual([10, 0]);
  const events = await eventsFor("guarded", "RolledBack");
  expect(events.length).toBeLessThanOrEqual(1);
  console.log(`[faults] RolledBack events after the hand-over: ${events.length}`);
}, 60_000);
