// Two operator replicas with leader election: only the leader writes, a SIGKILLed leader is
// replaced within 20 s, changes made during the hand-over are projected, and SIGTERM releases the
// lease so a standby takes over at once.
import { afterAll, beforeAll, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseDocument } from "../../../src/core/index.js";
import { flagManifest } from "../../fixtures/invalid-flags.js";
import { clients, kubectl, testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { waitFor } from "../../support/wait.js";

const { core } = clients();
let apps: Awaited<ReturnType<typeof testNamespace>>;
let system: Awaited<ReturnType<typeof testNamespace>>;
const replicas: OperatorProcess[] = [];

beforeAll(async () => {
  apps = await testNamespace("le-apps");
  system = await testNamespace("le-system");
});
afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  if (process.env.DEBUG_LE)
    for (const r of replicas) console.log(r.identity, JSON.stringify(r.logs, null, 1));
  await apps?.remove();
  await system?.remove();
});

const start = async () => {
  const replica = await startOperator([
    "--namespaces",
    apps.name,
    "--leader-elect",
    "--leader-election-namespace",
    system.name,
  ]);
  replicas.push(replica);
  return replica;
};
const leads = (r: OperatorProcess) => r.logs.some((l) => l.reason === "Acquired");
const writes = (r: OperatorProcess) => r.logs.filter((l) => l.reason === "Projected").length;
const percentOf = async (flag: string) => {
  const cm = await core
    .readNamespacedConfigMap({ name: "flagwright-flags", namespace: apps.name })
    .catch(() => undefined);
  return cm?.data?.["flags.json"] ? parseDocument(cm.data["flags.json"]).flags[flag]?.percent : undefined;
};
const applyFlag = (name: string, percent: number) =>
  kubectl(
    ["apply", "-n", apps.name, "-f", "-"],
    stringify(flagManifest(name, { enabled: true, rollout: { percent } })),
  );

it("only the leader writes; a killed leader is replaced within 20 s and misses nothing", async () => {
  const first = await start();
  await waitFor(() => leads(first), { timeoutMs: 10_000, what: "the first replica to lead" });
  const second = await start();
  await waitFor(() => second.logs.some((l) => l.reason === "Started"), { what: "the standby to start" });

  await applyFlag("handover", 10);
  await waitFor(async () => (await percentOf("handover")) === 10, {
    timeoutMs: 5_000,
    what: "projection by the leader",
  });
  // The write is in the API server already; its log line may still be in the pipe.
  await waitFor(() => writes(first) > 0, { what: "the leader's log of its write" });
  expect(writes(second)).toBe(0);
  expect(leads(second)).toBe(false);
  const cm = await core.readNamespacedConfigMap({ name: "flagwright-flags", namespace: apps.name });
  expect(cm.metadata?.managedFields?.map((m) => m.manager)).toEqual(["flagwright"]);

  await first.kill();
  const killedAt = Date.now();
  // Changed while nobody leads: the new leader must project it.
  await applyFlag("handover", 60);
  await applyFlag("during-handover", 20);
  await waitFor(() => leads(second), { timeoutMs: 20_000, what: "the standby to take over" });
  const handoverMs = Date.now() - killedAt;
  await waitFor(
    async () => (await percentOf("handover")) === 60 && (await percentOf("during-handover")) === 20,
    {
      timeoutMs: 5_000,
      what: "changes made during the hand-over",
    },
  );
  console.log(`leader hand-over after SIGKILL: ${handoverMs} ms`);
  expect(handoverMs).toBeLessThan(20_000);
  const lease = JSON.parse(
    await kubectl(["get", "lease", "flagwright-operator", "-n", system.name, "-o", "json"]),
  );
  expect(lease.spec.holderIdentity).toBe(second.identity);
}, 60_000);

it("SIGTERM releases the lease so a standby takes over without waiting it out", async () => {
  const leader = replicas.find((r) => r.child.exitCode === null && r.child.signalCode === null && leads(r));
  expect(leader).toBeDefined();
  const standby = await start();
  await waitFor(() => standby.logs.some((l) => l.reason === "Started"), { what: "the standby to start" });
  await leader?.stop();
  const stoppedAt = Date.now();
  expect(leader?.logs.some((l) => l.reason === "Released")).toBe(true);
  await waitFor(() => leads(standby), {
    timeoutMs: 6_000,
    what: "the standby to take over the released lease",
  });
  console.log(`leader hand-over after SIGTERM: ${Date.now() - stoppedAt} ms`);
  await applyFlag("after-release", 5);
  await waitFor(async () => (await percentOf("after-release")) === 5, {
    timeoutMs: 5_000,
    what: "projection by the new leader",
  });
}, 60_000);
