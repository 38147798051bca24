// The API server (with etcd) SIGKILLed and restarted three times while a canary ramps: the ramp
// neither skips nor repeats a step, and a rollback whose alert fired while the API server was down
// is applied once it is back. A private control plane (restarted on its own data), the real
// operator process, a real Prometheus (the project's rules) and Alertmanager (pushing to the
// operator's webhook), and the metrics test app. What was written is read back from etcd's own
// history of the objects, so a step that existed only between two outages still counts.
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type AnalysisStack,
  ERROR_RATE_ALERT,
  startAnalysisStack,
  watchErrorRateAlert,
} from "../support/analysis-stack.js";
import { canarySpec, createFlag, getFlag, projectedDocument } from "../support/flag-objects.js";
import { waitFor } from "../support/wait.js";
import { type PrivateControlPlane, startPrivateControlPlane } from "./support/control-plane.js";
import { configMapHistory, flagHistory, trail } from "./support/history.js";

const RAMP_NS = "restarts-ramp";
const ROLLBACK_NS = "restarts-rollback";
const STEPS = [5, 10, 25, 50, 100];
/** Longer than a step's pause (2 s), so the pause is over by the time the API server is back. */
const OUTAGE_MS = 3_000;

let plane: PrivateControlPlane;
let stack: AnalysisStack | undefined;

const watchAlert = (key: string) => ({ ...watchErrorRateAlert(key), interval: "1s" });

beforeAll(async () => {
  plane = await startPrivateControlPlane({ namespaces: [RAMP_NS, ROLLBACK_NS] });
  stack = await startAnalysisStack({
    namespaces: [RAMP_NS, ROLLBACK_NS],
    trafficFor: ["ramp", "hotfix"],
    kubeconfig: plane.kubeconfig,
  });
  // Alertmanager's pushes count too: the alert may reach the operator either way during an outage.
  stack.acceptWebhooks();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await plane?.dispose();
});

/** SIGKILL the control plane, run `meanwhile`, keep it down at least OUTAGE_MS, restart it. */
async function outage(meanwhile: () => Promise<void> = async () => {}): Promise<void> {
  await plane.crash();
  const down = Date.now();
  await meanwhile();
  const left = OUTAGE_MS - (Date.now() - down);
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left)); // the outage itself
  await plane.restart();
}

const stepOf = async (ns: string, name: string) => (await getFlag(plane.custom, ns, name)).status;

it("three API server crashes mid-ramp: no step skipped or repeated; an alert fired during an outage rolls back once it is back", async () => {
  await createFlag(plane.custom, RAMP_NS, "ramp", canarySpec(STEPS, "2s", watchAlert("ramp")));
  await createFlag(plane.custom, ROLLBACK_NS, "hotfix", canarySpec([10, 100], "1h", watchAlert("hotfix")));
  await waitFor(
    async () => {
      const s = await stepOf(ROLLBACK_NS, "hotfix");
      return s?.phase === "Progressing" && s.lastAnalysis?.result === "Passed";
    },
    { timeoutMs: 20_000, what: "hotfix at its first step with a passed check" },
  );
  await waitFor(async () => ((await stepOf(RAMP_NS, "ramp"))?.currentStepIndex ?? 0) >= 1, {
    timeoutMs: 20_000,
    what: "the ramp past its first step",
  });

  // Outage 1 mid-ramp; then the ramp must move on from wherever it was.
  await outage();
  const after1 = (await waitFor(() => stepOf(RAMP_NS, "ramp"), { what: "the API server back" }))
    ?.currentStepIndex as number;
  await waitFor(async () => ((await stepOf(RAMP_NS, "ramp"))?.currentStepIndex ?? 0) > after1, {
    timeoutMs: 20_000,
    what: "the ramp to advance after outage 1",
  });

  // Outage 2: hotfix's error rate rises and the operator sees the alert while the API is down.
  const failedDuringOutage = () =>
    stack?.operator.logs.some((l) => l.msg === "analysis" && l.flag === "hotfix" && l.result === "Failed");
  await outage(async () => {
    stack?.app.setErrorRatio("hotfix", 0.5);
    await waitFor(failedDuringOutage, {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: "the operator to see hotfix's alert firing during the outage",
    });
  });
  const back = Date.now();
  await waitFor(async () => (await projectedDocument(plane.core, ROLLBACK_NS))?.flags.hotfix?.percent === 0, {
    timeoutMs: 20_000,
    intervalMs: 100,
    what: "hotfix rolled back to 0% once the API server is back",
  });
  console.log(`[faults] rollback applied ${Date.now() - back} ms after the API server came back`);

  // Outage 3, if the ramp is still going.
  if ((await stepOf(RAMP_NS, "ramp"))?.phase !== "Completed") await outage();
  const done = await waitFor(
    async () => {
      const s = await stepOf(RAMP_NS, "ramp");
      return s?.phase === "Completed" && s;
    },
    { timeoutMs: 40_000, what: "the ramp to complete" },
  );
  expect(done.currentPercent).toBe(100);

  // What was written, version by version, from etcd.
  const rampDocs = await configMapHistory(plane, RAMP_NS);
  expect(trail(rampDocs, (d) => d.doc.flags.ramp?.percent)).toEqual(STEPS);
  const rampStatus = (await flagHistory(plane, RAMP_NS, "ramp")).map((v) => v.flag.status).filter((s) => s);
  expect(trail(rampStatus, (s) => s?.currentStepIndex)).toEqual(STEPS.map((_, i) => i));
  // Each step started once: a step held again (its pause restarted) would show a second start.
  const starts = new Map<number, Set<string>>();
  for (const s of rampStatus) {
    if (s?.currentStepIndex === undefined || !s.stepStartedAt || s.phase === "Completed") continue;
    const set = starts.get(s.currentStepIndex) ?? new Set();
    set.add(s.stepStartedAt);
    starts.set(s.currentStepIndex, set);
  }
  for (const [index, set] of starts) expect([...set], `step ${index} start times`).toHaveLength(1);

  const hotfixDocs = await configMapHistory(plane, ROLLBACK_NS);
  expect(trail(hotfixDocs, (d) => d.doc.flags.hotfix?.percent)).toEqual([10, 0]);
  const hotfix = (await flagHistory(plane, ROLLBACK_NS, "hotfix")).map((v) => v.flag.status);
  expect(new Set(hotfix.map((s) => s?.rollback?.at).filter(Boolean)).size).toBe(1);
  expect(hotfix.at(-1)).toMatchObject({
    phase: "RolledBack",
    currentPercent: 0,
    rollback: { reason: "Alert", alertName: ERROR_RATE_ALERT, stepIndex: 0, percent: 10 },
  });
}, 180_000);
