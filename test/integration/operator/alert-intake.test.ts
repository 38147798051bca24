// Alertmanager pushes reach whichever replica the Service picks: two operator replicas with leader
// election behind one address that alternates between them (as the chart's Service may), a real
// Alertmanager notifying that address, and Prometheus unreachable so that polling cannot help.
// Every push rolls its flag back within 1 s of reaching a replica, whether leader or standby; a
// push that reaches the leader 100 ms before it is SIGKILLed is acted on by the next leader, and
// the rollback is recorded once.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type FeatureFlag, flagKey } from "../../../src/api/index.js";
import { canarySpec, createFlag, getFlag, projectedDocument } from "../../support/flag-objects.js";
import { clients, testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { type AlertmanagerHandle, freePort, startAlertmanager } from "../../support/prometheus.js";
import { waitFor } from "../../support/wait.js";

const ALERT = "FlagErrorRateHigh";
const TOKEN = `intake-${Math.random().toString(36).slice(2)}`;
const { core, custom } = clients();

let apps: Awaited<ReturnType<typeof testNamespace>>;
let system: Awaited<ReturnType<typeof testNamespace>>;
let tokenDir: string;
let alertmanager: AlertmanagerHandle | undefined;
let balancer: RoundRobin | undefined;
const replicas: OperatorProcess[] = [];

/** One address in front of the replicas, alternating per request like a Service's endpoints. */
interface RoundRobin {
  url: string;
  targets: string[];
  /** Which target took each request, in order. */
  served: string[];
  server: Server;
}

async function roundRobin(): Promise<RoundRobin> {
  const port = await freePort();
  const rr: RoundRobin = { url: `http://127.0.0.1:${port}`, targets: [], served: [], server: createServer() };
  let next = 0;
  rr.server.on("request", (req, res) => {
    const target = rr.targets[next++ % rr.targets.length] as string;
    rr.served.push(target);
    const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    // A dead replica is a failed request to Alertmanager, which retries it.
    upstream.on("error", () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => rr.server.listen(port, "127.0.0.1", resolve));
  return rr;
}

beforeAll(async () => {
  apps = await testNamespace("intake-apps");
  system = await testNamespace("intake-system");
  tokenDir = mkdtempSync(join(tmpdir(), "flagwright-intake-"));
  writeFileSync(join(tokenDir, "token"), `${TOKEN}\n`);
  balancer = await roundRobin();
  alertmanager = await startAlertmanager({
    webhookUrl: `${balancer.url}/webhooks/alertmanager`,
    token: TOKEN,
  });
}, 60_000);

afterAll(async () => {
  await alertmanager?.dispose();
  await Promise.all(replicas.map((r) => r.stop()));
  if (process.env.DEBUG_INTAKE)
    for (const r of replicas) console.log(r.identity, JSON.stringify(r.logs.slice(-80), null, 1));
  await new Promise((resolve) => (balancer ? balancer.server.close(resolve) : resolve(undefined)));
  if (tokenDir) rmSync(tokenDir, { recursive: true, force: true });
  await apps?.remove();
  await system?.remove();
});

async function startReplica(): Promise<OperatorProcess> {
  // Nothing listens on this port: analysis polling only ever reports Unavailable.
  const unreachable = `http://127.0.0.1:${await freePort()}`;
  const replica = await startOperator([
    "--namespaces",
    apps.name,
    "--leader-elect",
    "--leader-election-namespace",
    system.name,
    "--leader-election-lease-duration",
    "3s",
    "--leader-election-renew-deadline",
    "2s",
    "--leader-election-retry-period",
    "500ms",
    "--prometheus-url",
    unreachable,
    "--webhook-token-file",
    join(tokenDir, "token"),
  ]);
  replicas.push(replica);
  return replica;
}

const leads = (r: OperatorProcess) => r.logs.some((l) => l.reason === "Acquired");

/** Posts a firing alert to Alertmanager, which notifies the balancer's address. */
async function fire(key: string): Promise<void> {
  const res = await fetch(`${alertmanager?.url}/api/v2/alerts`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([{ labels: { alertname: ALERT, flag: key }, startsAt: new Date().toISOString() }]),
  });
  expect(res.ok, `Alertmanager took the alert (${res.status})`).toBe(true);
}

/** When the push for `key` reached a replica (its arrival log line), and which replica. */
async function arrival(key: string): Promise<{ at: number; replica: OperatorProcess }> {
  return waitFor(
    () => {
      for (const replica of replicas) {
        const line = replica.logs.find(
          (l) => l.msg === "analysis" && l.flag === key && String(l.message).endsWith("(Alertmanager)"),
        );
        if (line) return { at: Date.parse(String(line.time)), replica };
      }
      return undefined;
    },
    { timeoutMs: 20_000, intervalMs: 5, what: `the push for ${key} to reach a replica` },
  );
}

async function rolledBackAt(key: string, timeoutMs = 10_000): Promise<number> {
  await waitFor(async () => (await projectedDocument(core, apps.name))?.flags[key]?.percent === 0, {
    timeoutMs,
    intervalMs: 10,
    what: `${key} at 0 % in the ConfigMap`,
  });
  return Date.now();
}

const rollbackEvents = async (name: string) =>
  (await core.listNamespacedEvent({ namespace: apps.name })).items.filter(
    (e) => e.involvedObject.name === name && e.reason === "RolledBack",
  ).length;

const spec = (key: string) =>
  canarySpec([10, 50], "10m", {
    alerts: [{ alertName: ALERT, matchLabels: { flag: key } }],
    interval: "30s",
  });

it("a push to either replica rolls its flag back within 1 s; a push just before the leader dies is acted on once", async () => {
  const first = await startReplica();
  await waitFor(() => leads(first), { timeoutMs: 15_000, what: "the first replica to lead" });
  const second = await startReplica();
  const rr = balancer as RoundRobin;
  rr.targets = [first.url, second.url];

  const names = ["alpha", "bravo", "charlie", "delta", "last-words"];
  for (const name of names) await createFlag(custom, apps.name, name, spec(name));
  await waitFor(
    async () => {
      const doc = await projectedDocument(core, apps.name);
      return names.every((n) => doc?.flags[n]?.percent === 10);
    },
    { timeoutMs: 15_000, what: "every canary at its first step" },
  );
  // The ramp holds (Prometheus is unreachable); wait until both replicas' caches say Progressing.
  await waitFor(
    async () =>
      (await Promise.all(names.map((n) => getFlag(custom, apps.name, n)))).every(
        (f: FeatureFlag) => f.status?.phase === "Progressing",
      ),
    { what: "every flag Progressing" },
  );

  const took: string[] = [];
  for (const name of names.slice(0, 4)) {
    await fire(name);
    const { at, replica } = await arrival(name);
    const done = await rolledBackAt(name);
    took.push(replica === first ? "leader" : "standby");
    expect(done - at, `${name}: push (to the ${took.at(-1)}) → rolled back`).toBeLessThanOrEqual(1_000);
    // Status follows the ConfigMap (it is written off the projection path).
    const flag = await waitFor(
      async () => {
        const f = await getFlag(custom, apps.name, name);
        return f.status?.phase === "RolledBack" ? f : undefined;
      },
      { timeoutMs: 5_000, what: `${name} RolledBack in status` },
    );
    expect(flag.status?.rollback).toMatchObject({ reason: "Alert", alertName: ALERT });
    expect(flag.status?.pushedAlert).toMatchObject({ result: "Failed", alertName: ALERT });
  }
  // The address alternated, so both the leader and the standby took pushes.
  expect(new Set(took)).toEqual(new Set(["leader", "standby"]));
  expect(second.logs.some((l) => l.reason === "Projected")).toBe(false);

  // Now the leader alone takes the push and is SIGKILLed 100 ms after it arrives.
  rr.targets = [first.url];
  const key = flagKey(await getFlag(custom, apps.name, "last-words"));
  await fire(key);
  const { replica } = await arrival(key);
  expect(replica).toBe(first);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await first.kill();
  rr.targets = [second.url];
  await waitFor(() => leads(second), { timeoutMs: 20_000, what: "the standby to take over" });
  await rolledBackAt(key, 15_000);
  const flag = await waitFor(
    async () => {
      const f = await getFlag(custom, apps.name, "last-words");
      return f.status?.phase === "RolledBack" ? f : undefined;
    },
    { timeoutMs: 5_000, what: "last-words RolledBack in status" },
  );
  expect(flag.status?.rollback).toMatchObject({ reason: "Alert", alertName: ALERT });
  // Recorded once: one rollback record, and at most one Event (a kill between the status write
  // and the Event may lose it, never doubles it). Settle a moment so a second one would show.
  await waitFor(async () => (await rollbackEvents("last-words")) >= 1, {
    timeoutMs: 5_000,
    what: "the RolledBack Event",
  }).catch(() => undefined);
  expect(await rollbackEvents("last-words")).toBeLessThanOrEqual(1);
  for (const name of names.slice(0, 4)) expect(await rollbackEvents(name)).toBe(1);
}, 120_000);
