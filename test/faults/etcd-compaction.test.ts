// etcd compaction while the operator watches: the operator's watch resumes from a resourceVersion
// etcd no longer holds, gets 410 Gone, relists, and every change made meanwhile reaches the
// ConfigMap. A private control plane with the apiserver's watch cache off, so watches are served
// by etcd itself (the cache would replay recent history from memory and hide the compaction). The
// operator reaches it through a proxy that holds its reconnecting watch while flags change and
// etcd is compacted; its watches end every 2 s (--watch-timeout), which is when it resumes.
import { afterAll, beforeAll, expect, it } from "vitest";
import { stringify } from "yaml";
import { flagManifest } from "../fixtures/invalid-flags.js";
import { listFlags, percents, projectedDocument } from "../support/flag-objects.js";
import { type OperatorProcess, startOperator } from "../support/operator.js";
import { waitFor } from "../support/wait.js";
import { type ApiProxy, startApiProxy } from "./support/api-proxy.js";
import { type PrivateControlPlane, startPrivateControlPlane } from "./support/control-plane.js";
import { compactEtcd, etcdRevision } from "./support/etcd.js";

const NS = "compaction";
let plane: PrivateControlPlane;
let proxy: ApiProxy;
let operator: OperatorProcess | undefined;

beforeAll(async () => {
  plane = await startPrivateControlPlane({ namespaces: [NS], apiserverArgs: ["--watch-cache=false"] });
  proxy = await startApiProxy(plane.kubeconfig);
}, 120_000);

afterAll(async () => {
  await operator?.stop();
  await proxy?.close();
  await plane?.dispose();
});

const applyFlag = (name: string, spec: Record<string, unknown>) =>
  plane.kubectl(["apply", "-n", NS, "-f", "-"], stringify(flagManifest(name, spec)));

/** The ConfigMap holds exactly `expected` and every flag's status is current. */
async function converged(expected: Record<string, number>): Promise<boolean> {
  const doc = await projectedDocument(plane.core, NS);
  if (JSON.stringify(percents(doc)) !== JSON.stringify(expected)) return false;
  const flags = await listFlags(plane.custom, NS);
  return flags.every((f) => f.status?.observedGeneration === f.metadata.generation);
}

it("a watch resumed after etcd compaction gets 410 Gone, relists, and misses no change", async () => {
  const expected: Record<string, number> = {};
  for (const name of ["alpha", "bravo", "charlie", "delta"]) {
    await applyFlag(name, { enabled: true, rollout: { percent: 10 } });
    expected[name] = 10;
  }
  operator = await startOperator(["--namespaces", NS, "--watch-timeout", "2s"], {
    kubeconfig: proxy.kubeconfig,
  });
  await waitFor(() => converged(expected), { timeoutMs: 15_000, what: "the initial projection" });

  // Hold the operator's next connections: its watches end within 2 s and their resumption waits.
  proxy.stall();
  const stalledAt = Date.now();
  // Held connections alone do not prove both watches are held: a status write or one watch
  // reconnecting twice can make up the count while the other watch, opened just before stall(),
  // is still live and would see the changes directly (no 410: a flake seen 1 run in 6). Every
  // watch ends within --watch-timeout (2 s), so past that every live watch is a held one.
  await waitFor(() => proxy.stalled >= 2 && Date.now() - stalledAt > 2_500, {
    timeoutMs: 10_000,
    what: "both of the operator's watches (FeatureFlags, ConfigMaps) to try to resume",
  });
  const gonesBefore = operator.logs.filter((l) => l.reason === "Gone").length;

  // Changes the resumed watch would have delivered, then compaction past all of them.
  await applyFlag("alpha", { enabled: true, rollout: { percent: 55 } });
  expected.alpha = 55;
  await plane.kubectl(["delete", "ff", "bravo", "-n", NS]);
  delete expected.bravo;
  await applyFlag("echo", { enabled: true, rollout: { percent: 77 } });
  expected.echo = 77;
  await applyFlag("charlie", { enabled: false, rollout: { percent: 10 } });
  expected.charlie = 10; // disabled flags keep their percent; `enabled` says they serve off
  await compactEtcd(plane.etcd, await etcdRevision(plane.etcd));

  proxy.release();
  await waitFor(() => (operator?.logs.filter((l) => l.reason === "Gone").length ?? 0) > gonesBefore, {
    timeoutMs: 10_000,
    what: "the operator to log 410 Gone on resuming its watch",
  });
  await waitFor(() => converged(expected), {
    timeoutMs: 15_000,
    what: "every change made during the compaction to reach the ConfigMap",
  });
  const doc = await projectedDocument(plane.core, NS);
  expect(doc?.flags.charlie?.enabled).toBe(false);
  expect(Object.keys(doc?.flags ?? {}).sort()).toEqual(["alpha", "charlie", "delta", "echo"]);
}, 90_000);
