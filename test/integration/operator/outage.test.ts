// The API server goes away for 10 s while flags change; the same operator process, without a
// restart, brings every ConfigMap back in line once it returns. Uses a private control plane
// (stopping the suite's shared one would disturb other tests).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseDocument } from "../../../src/core/index.js";
import { installCrds, kubectl, type RunningCluster, startCluster } from "../../cluster/cluster.js";
import { flagManifest } from "../../fixtures/invalid-flags.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { waitFor } from "../../support/wait.js";

const namespaces = ["outage-a", "outage-b", "outage-c"];
let dir: string;
let cluster: RunningCluster;
let operator: OperatorProcess | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "flagwright-outage-"));
  cluster = await startCluster({ dir, keep: true });
  await installCrds(cluster);
  for (const ns of namespaces) await kubectl(cluster, ["create", "namespace", ns]);
}, 120_000);

afterAll(async () => {
  await operator?.stop();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const applyFlag = (ns: string, name: string, percent: number) =>
  kubectl(
    cluster,
    ["apply", "-n", ns, "-f", "-"],
    stringify(flagManifest(name, { enabled: true, rollout: { percent } })),
  );

/** Every namespace's ConfigMap holds exactly the expected percents. */
async function converged(expected: Record<string, Record<string, number>>): Promise<boolean> {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  for (const [ns, flags] of Object.entries(expected)) {
    const cm = await core
      .readNamespacedConfigMap({ name: "flagwright-flags", namespace: ns })
      .catch(() => undefined);
    const doc = cm?.data?.["flags.json"] ? parseDocument(cm.data["flags.json"]) : undefined;
    const actual = Object.fromEntries(Object.entries(doc?.flags ?? {}).map(([k, f]) => [k, f.percent]));
    if (
      JSON.stringify(actual, Object.keys(actual).sort()) !== JSON.stringify(flags, Object.keys(flags).sort())
    )
      return false;
  }
  return true;
}

it("converges after a 10 s API server outage without an operator restart", async () => {
  // Cluster-wide, as deployed; the informers' backoff is the production default.
  operator = await startOperator([], { kubeconfig: cluster.kubeconfig });
  const expected: Record<string, Record<string, number>> = { "outage-a": {}, "outage-b": {}, "outage-c": {} };
  for (const ns of namespaces) {
    for (const name of ["one", "two"]) {
      await applyFlag(ns, name, 10);
      (expected[ns] as Record<string, number>)[name] = 10;
    }
  }
  await waitFor(() => converged(expected), { timeoutMs: 10_000, what: "initial projection" });

  // Changes land in etcd just before the outage, so the operator's watches may miss them.
  await applyFlag("outage-a", "one", 55);
  expected["outage-a"] = { one: 55, two: 10 };
  await kubectl(cluster, ["delete", "ff", "two", "-n", "outage-b"]);
  expected["outage-b"] = { one: 10 };
  const pid = operator.child.pid;

  await cluster.stop();
  const down = Date.now();
  await waitFor(
    () =>
      operator?.logs.some(
        (l) => l.reason === "WatchFailed" && (l.time as string) >= new Date(down).toISOString(),
      ),
    {
      timeoutMs: 10_000,
      what: "the operator to notice the outage",
    },
  );
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10_000 - (Date.now() - down)))); // the outage itself
  cluster = await startCluster({ dir, keep: true });
  const up = Date.now();

  // More changes right after the API server returns, while the operator is still reconnecting.
  await applyFlag("outage-c", "three", 77);
  expected["outage-c"] = { one: 10, two: 10, three: 77 };
  await applyFlag("outage-b", "one", 33);
  expected["outage-b"] = { one: 33 };

  await waitFor(() => converged(expected), {
    timeoutMs: 30_000,
    what: "every ConfigMap to match after the outage",
  });
  console.log(`outage ${up - down} ms; converged ${Date.now() - up} ms after the API server was back`);
  expect(operator.child.pid).toBe(pid);
  expect(operator.child.exitCode).toBeNull();
}, 120_000);
