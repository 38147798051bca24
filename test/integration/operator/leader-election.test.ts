// Two operator replicas with leader election: only the leader writes, a SIGKILLed leader is
// replaced within 20 s, changes made during the hand-over are projected, and SIGTERM releases the
// lease so a standby takes over at once.
import { randomBytes } from "node:crypto";
import { CoordinationV1Api, KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseDocument } from "../../../src/core/index.js";
import { LeaderElector } from "../../../src/operator/leader.js";
import { flagManifest } from "../../fixtures/invalid-flags.js";
import { clients, kubeConfig, kubectl, testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { startTcpProxy } from "../../support/tcp-proxy.js";
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

const start = async (
  args = ["--namespaces", apps.name, "--leader-elect", "--leader-election-namespace", system.name],
) => {
  const replica = await startOperator(args);
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

// Clock skew. A holder on a node whose clock is five minutes off keeps renewing: the standby (a
// real operator process) must judge the lease by its own clock, from when it saw the record
// change, and neither take over while renewals continue nor wait five minutes once they stop.
// The skewed holder is this test writing the Lease as such a node would (every second, renewTime
// from its wrong clock). A short lease keeps the test quick.
describe("clock skew between the holder and the standby", () => {
  const LEASE_SECONDS = 4;
  const TIMING = [
    "--leader-election-lease-duration",
    `${LEASE_SECONDS}s`,
    "--leader-election-renew-deadline",
    "3s",
    "--leader-election-retry-period",
    "1s",
  ];
  const coordination = kubeConfig().makeApiClient(CoordinationV1Api);
  let skewApps: Awaited<ReturnType<typeof testNamespace>>;
  beforeAll(async () => {
    skewApps = await testNamespace("le-skew");
  });
  afterAll(async () => {
    await skewApps?.remove();
  });

  const microTime = (ms: number) => new Date(ms).toISOString().replace(/Z$/, "000Z") as unknown as Date;

  /** A holder renewing `lease` every second with renewTime from a clock `skewMs` off. */
  async function skewedHolder(lease: string, skewMs: number) {
    const identity = `skewed-node-${randomBytes(3).toString("hex")}`;
    const namespace = system.name;
    const spec = () => ({
      holderIdentity: identity,
      leaseDurationSeconds: LEASE_SECONDS,
      acquireTime: microTime(Date.now() + skewMs),
      renewTime: microTime(Date.now() + skewMs),
      leaseTransitions: 0,
    });
    await coordination.createNamespacedLease({
      namespace,
      body: { metadata: { name: lease }, spec: spec() },
    });
    const state = { renewals: 1, lastRenewal: Date.now(), lostTo: undefined as string | undefined };
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        if (stopped) break;
        const current = await coordination.readNamespacedLease({ name: lease, namespace });
        if (current.spec?.holderIdentity !== identity) {
          state.lostTo = current.spec?.holderIdentity;
          break;
        }
        current.spec = { ...spec(), acquireTime: current.spec.acquireTime };
        // Taken before the write, so no reader can have seen the record earlier.
        const sentAt = Date.now();
        await coordination.replaceNamespacedLease({ name: lease, namespace, body: current });
        state.renewals++;
        state.lastRenewal = sentAt;
      }
    })();
    return {
      state,
      /** Stops renewing without releasing, as a crashed node would. */
      crash: async () => {
        stopped = true;
        await loop;
      },
    };
  }

  const standbyFor = (lease: string) =>
    start([
      "--namespaces",
      skewApps.name,
      "--leader-elect",
      "--leader-election-namespace",
      system.name,
      "--leader-election-id",
      lease,
      ...TIMING,
    ]);

  it("renewTime five minutes in the past: no second leader while the holder renews", async () => {
    const lease = `skew-past-${randomBytes(3).toString("hex")}`;
    const holder = await skewedHolder(lease, -5 * 60_000);
    try {
      const standby = await standbyFor(lease);
      const from = holder.state.renewals;
      // Three lease durations of renewals with the standby reading alongside.
      await waitFor(() => holder.state.renewals >= from + 3 * LEASE_SECONDS || holder.state.lostTo, {
        timeoutMs: 30_000,
        what: `${3 * LEASE_SECONDS} renewals by the skewed holder`,
      });
      expect(holder.state.lostTo).toBeUndefined();
      expect(leads(standby)).toBe(false);
      const record = await coordination.readNamespacedLease({ name: lease, namespace: system.name });
      expect(Date.now() - new Date(record.spec?.renewTime as Date).getTime()).toBeGreaterThan(4 * 60_000);
      expect(standby.child.exitCode).toBeNull();
    } finally {
      await holder.crash();
    }
  }, 60_000);

  it("renewTime five minutes in the future: no second leader while the holder renews, take-over one lease after it stops", async () => {
    const lease = `skew-future-${randomBytes(3).toString("hex")}`;
    const holder = await skewedHolder(lease, 5 * 60_000);
    const standby = await standbyFor(lease);
    const from = holder.state.renewals;
    await waitFor(() => holder.state.renewals >= from + 2 * LEASE_SECONDS || holder.state.lostTo, {
      timeoutMs: 30_000,
      what: `${2 * LEASE_SECONDS} renewals by the skewed holder`,
    });
    expect(holder.state.lostTo).toBeUndefined();
    expect(leads(standby)).toBe(false);

    await holder.crash();
    const stoppedAt = holder.state.lastRenewal;
    await waitFor(() => leads(standby), { timeoutMs: 20_000, what: "the standby to take over" });
    const acquiredAt = Date.parse(standby.logs.find((l) => l.reason === "Acquired")?.time as string);
    console.log(`take-over after the skewed holder's last renewal: ${acquiredAt - stoppedAt} ms`);
    // Not before the lease ran out on the standby's clock, and not five minutes later.
    expect(acquiredAt - stoppedAt).toBeGreaterThanOrEqual(LEASE_SECONDS * 1000);
    expect(acquiredAt - stoppedAt).toBeLessThan(LEASE_SECONDS * 1000 + 5_000);
  }, 60_000);

  it("a leader cut off from the API server stops within the renew deadline, before the standby takes over", async () => {
    // The leader here is a LeaderElector in this process, talking through a proxy that is frozen
    // (requests hang, as in a partition); the standby is an operator process.
    const lease = `cut-off-${randomBytes(3).toString("hex")}`;
    const kc = kubeConfig();
    const cluster = kc.getCurrentCluster();
    const upstream = new URL(cluster?.server ?? "");
    const proxy = await startTcpProxy({ host: upstream.hostname, port: Number(upstream.port) });
    const proxied = new KubeConfig();
    proxied.loadFromOptions({
      clusters: kc.clusters.map((c) =>
        c.name === cluster?.name ? { ...c, server: `https://${proxy.address}` } : c,
      ),
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
    const state = { leading: false, stoppedAt: 0 };
    const leader = new LeaderElector({
      kc: proxied,
      namespace: system.name,
      name: lease,
      identity: `cut-off-${randomBytes(3).toString("hex")}`,
      log: pino({ level: "silent" }),
      leaseDurationMs: LEASE_SECONDS * 1000,
      renewDeadlineMs: 3_000,
      retryPeriodMs: 1_000,
      onStartedLeading: () => {
        state.leading = true;
      },
      onStoppedLeading: () => {
        state.leading = false;
        state.stoppedAt = Date.now();
      },
    });
    try {
      leader.start();
      await waitFor(() => state.leading, { what: "the in-process elector to lead" });
      const standby = await standbyFor(lease);
      proxy.freeze();
      const frozenAt = Date.now();
      await waitFor(() => state.stoppedAt > 0, { timeoutMs: 10_000, what: "the cut-off leader to stop" });
      console.log(`cut-off leader stopped ${state.stoppedAt - frozenAt} ms after the partition`);
      expect(state.stoppedAt - frozenAt).toBeLessThan(3_000 + 1_000);
      await waitFor(() => leads(standby), { timeoutMs: 20_000, what: "the standby to take over" });
      const acquiredAt = Date.parse(standby.logs.find((l) => l.reason === "Acquired")?.time as string);
      console.log(`standby took over ${acquiredAt - frozenAt} ms after the partition`);
      expect(acquiredAt).toBeGreaterThan(state.stoppedAt);
    } finally {
      // The proxy first: a leader that never noticed the partition would hang on its release.
      await proxy.close();
      await leader.stop();
    }
  }, 60_000);
});
