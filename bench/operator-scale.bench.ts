// Operator scale on a private local control plane: create N flags across 50 namespaces and time
// until every one is projected; then, under that load, the latency from a single spec change to
// its ConfigMap; the operator's memory (peak, and growth per flag), its CPU time per thousand
// reconciles, and the projected bytes per flag (where a namespace meets the 1 MiB ConfigMap limit).
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION } from "../src/api/index.js";
import { parseDocument } from "../src/core/index.js";
import { MAX_DOCUMENT_BYTES } from "../src/operator/plan.js";
import { installCrds, startCluster } from "../test/cluster/cluster.js";
import { startOperator } from "../test/support/operator.js";
import { describeNodeOptions, nodeOptionsEnv, operatorNodeOptions } from "./deployed.js";
import { cpuMs, memoryMiB } from "./proc.js";
import type { BenchResult, Figure } from "./stats.js";

export const name = "operator-scale";
export const description =
  "N flags created across 50 namespaces by 16 clients while the operator (`--workers 4`, a child " +
  "process with the chart's NODE_OPTIONS unless OPERATOR_SCALE_NODE_OPTIONS is set) runs against a private kube-apiserver + etcd on the same cores: time until all are " +
  "projected, then single-change latency with all N present, the operator's memory and CPU, the " +
  "projected document size, and a restart with everything projected (time to ready and caught up, " +
  "writes made). Plus one namespace of 6,000 flags. One run per size (the 10,000 run takes minutes).";
const repoRoot = fileURLToPath(new URL("..", import.meta.url));
/**
 * The operator runs with the chart's NODE_OPTIONS, as deployed; OPERATOR_SCALE_NODE_OPTIONS replaces
 * them (an empty value runs it with V8's defaults).
 */
export const operatorOptions = operatorNodeOptions(
  process.env.OPERATOR_SCALE_NODE_OPTIONS,
  "OPERATOR_SCALE_NODE_OPTIONS",
);
const operatorEnv = nodeOptionsEnv(operatorOptions);
const cpuSeconds = (pid: number) => cpuMs(pid) / 1000;

/** A metric summed over its label sets, from the operator's /metrics. */
async function metricSum(operatorUrl: string, metric: string): Promise<number> {
  const text = await (await fetch(`${operatorUrl}/metrics`)).text();
  let total = 0;
  for (const match of text.matchAll(new RegExp(`^${metric}(?:\\{[^}]*\\})? (\\S+)$`, "gm")))
    total += Number(match[1]);
  return total;
}
const reconciles = (operatorUrl: string) => metricSum(operatorUrl, "controller_runtime_reconcile_total");

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

async function scenario(
  total: number,
  namespaceCount: number,
  changes: number,
  log: (line: string) => void,
): Promise<Figure[]> {
  const cluster = await startCluster();
  const operatorProcess: { stop?: () => Promise<void> } = {};
  try {
    await installCrds(cluster);
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const namespaces = Array.from({ length: namespaceCount }, (_, i) => `scale-${i}`);
    for (const ns of namespaces) await core.createNamespace({ body: { metadata: { name: ns } } });
    const operator = await startOperator(["--workers", "4"], {
      kubeconfig: cluster.kubeconfig,
      compiled: true,
      env: operatorEnv,
    });
    operatorProcess.stop = operator.stop;
    const pid = operator.child.pid ?? 0;
    const idleRssMiB = memoryMiB(pid, "VmRSS");
    const cpuAtStart = cpuSeconds(pid);
    const reconcilesAtStart = await reconciles(operator.url);

    const flags = Array.from({ length: total }, (_, i) => ({
      ns: namespaces[i % namespaceCount] as string,
      name: `flag-${i}`,
    }));
    const started = Date.now();
    await pool(flags, 16, async ({ ns, name: flagName }) => {
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: PLURAL,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "FeatureFlag",
          metadata: { name: flagName },
          spec: {
            enabled: true,
            owner: "team-bench",
            rollout: { percent: 25 },
            allowedUsers: ["qa-1", "qa-2"],
          },
        },
      });
    });
    const createdMs = Date.now() - started;
    const lastCreate = Date.now();
    log(`created ${total} flags in ${createdMs} ms`);

    let projectedBytes = 0;
    for (;;) {
      const list = await core.listConfigMapForAllNamespaces({
        labelSelector: "app.kubernetes.io/managed-by=flagwright",
      });
      let count = 0;
      projectedBytes = 0;
      for (const cm of list.items) {
        const text = cm.data?.["flags.json"] ?? "";
        projectedBytes += Buffer.byteLength(text);
        count += Object.keys(parseDocument(text).flags).length;
      }
      if (count === total) break;
      if (Date.now() - started > 20 * 60_000)
        throw new Error(`only ${count} of ${total} flags projected after 20 minutes`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const allProjectedMs = Date.now() - started;
    const afterLastCreateMs = Date.now() - lastCreate;
    const projectedRssMiB = memoryMiB(pid, "VmRSS");
    log(`all ${total} projected ${allProjectedMs} ms after the first create`);

    // Single changes with all present and the operator idle (queue empty, status writes done):
    // patch one flag's percent, time until its ConfigMap shows it.
    const idleStarted = Date.now();
    await waitUntil(async () => {
      const depth = await metricSum(operator.url, "workqueue_depth");
      const pending = await metricSum(operator.url, "flagwright_status_writes_pending");
      return depth === 0 && pending === 0;
    }, 20 * 60_000);
    const idleAfterMs = Date.now() - idleStarted;
    log(`operator idle ${idleAfterMs} ms after all were projected`);
    const latencies: number[] = [];
    for (let i = 0; i < changes; i++) {
      const { ns, name: flagName } = flags[(i * 7919) % total] as { ns: string; name: string };
      const percent = 30 + (i % 60);
      const t0 = performance.now();
      await custom.patchNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: PLURAL,
        name: flagName,
        body: [{ op: "replace", path: "/spec/rollout/percent", value: percent }],
      });
      const changeDeadline = Date.now() + 60_000;
      for (;;) {
        const cm = await core.readNamespacedConfigMap({ name: "flagwright-flags", namespace: ns });
        if (parseDocument(cm.data?.["flags.json"] ?? "").flags[flagName]?.percent === percent) break;
        if (Date.now() > changeDeadline)
          throw new Error(`${ns}/${flagName}: percent ${percent} not projected within 60 s of the patch`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      latencies.push(performance.now() - t0);
    }
    const cpu = cpuSeconds(pid) - cpuAtStart;
    const reconcileCount = (await reconciles(operator.url)) - reconcilesAtStart;
    const peakRss = memoryMiB(pid, "VmHWM");

    // Restart with everything projected: a new process must be ready and caught up (every
    // namespace reconciled, queue empty) without a single write.
    await operator.stop();
    const restartedAt = Date.now();
    const restarted = await startOperator(["--workers", "4"], {
      kubeconfig: cluster.kubeconfig,
      compiled: true,
      env: operatorEnv,
    });
    operatorProcess.stop = restarted.stop;
    await waitUntil(async () => {
      const ready = (await fetch(`${restarted.url}/readyz`)).ok;
      const done = (await reconciles(restarted.url)) >= namespaceCount;
      const depth = await metricSum(restarted.url, "workqueue_depth");
      const active = await metricSum(restarted.url, "controller_runtime_active_workers");
      return ready && done && depth === 0 && active === 0;
    }, 120_000);
    const restartMs = Date.now() - restartedAt;
    const restartWrites = await metricSum(restarted.url, "flagwright_api_writes_total");
    const byKind = (await (await fetch(`${restarted.url}/metrics`)).text())
      .split("\n")
      .filter((l) => l.startsWith("flagwright_api_writes_total{"))
      .join(", ");
    log(`restart: ready and caught up in ${restartMs} ms with ${restartWrites} writes (${byKind})`);
    const bytesPerFlag = projectedBytes / total;
    const at = `${total.toLocaleString("en-US")} flags`;
    const one = (figureName: string, unit: string, value: number, note?: string): Figure => ({
      name: `${at}: ${figureName}`,
      unit,
      samples: [value],
      ...(note && { note }),
    });
    return [
      one("create all (16 clients)", "s", createdMs / 1000),
      one("first create → all projected", "s", allProjectedMs / 1000),
      one("last create → all projected", "s", Math.round(afterLastCreateMs / 100) / 10),
      one(
        "all projected → operator idle",
        "s",
        Math.round(idleAfterMs / 100) / 10,
        "until the queue is empty and every status write is done (they follow projection)",
      ),
      {
        name: `${at}: single change → ConfigMap`,
        unit: "ms",
        samples: latencies.map(Math.round),
        stat: "percentiles",
      },
      one("operator peak RSS", "MiB", Math.round(peakRss)),
      one(
        "operator memory per flag",
        "KiB",
        Math.round(((projectedRssMiB - idleRssMiB) * 1024 * 10) / total) / 10,
        "(RSS once all are projected − RSS idle before the first create) ÷ flags; includes V8 heap headroom",
      ),
      one(
        "operator CPU per 1,000 reconciles",
        "CPU s",
        Math.round((cpu / reconcileCount) * 1000 * 100) / 100,
        `utime+stime of the operator process over the run ÷ controller_runtime_reconcile_total (${reconcileCount} reconciles of one namespace each, status writes and Events included)`,
      ),
      one(
        "projected bytes per flag",
        "bytes",
        Math.round(bytesPerFlag),
        "a 25 % rollout with a two-user allow-list",
      ),
      one(
        "flags per namespace at the document limit",
        "flags",
        Math.floor(MAX_DOCUMENT_BYTES / bytesPerFlag),
        "1,000,000 bytes (the planner's limit, under the 1 MiB ConfigMap limit; no per-flag ownerReferences) ÷ bytes per flag; longer allow-lists and variant values cost their length",
      ),
      one(
        "restart, all projected → ready and caught up",
        "s",
        Math.round(restartMs / 100) / 10,
        "SIGTERM, new process start, /readyz 200, every namespace reconciled, queue empty",
      ),
      one(
        "restart: writes",
        "writes",
        restartWrites,
        "flagwright_api_writes_total of the new process (ConfigMap, status, Event, analysis writes)",
      ),
    ];
  } finally {
    await operatorProcess.stop?.();
    await cluster.stop();
  }
}

async function waitUntil(test: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await test().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`not caught up within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function run({ smoke }: { smoke: boolean }): Promise<BenchResult> {
  const log = (line: string) => console.error(`[operator-scale] ${line}`);
  const options = describeNodeOptions("The operator", operatorOptions);
  log(options);
  // The operator runs compiled, as in the container image (tsx's compiler would weigh in the RSS),
  // with the build's Kubernetes client bundle.
  execFileSync("npm", ["run", "--silent", "build"], { cwd: repoRoot, stdio: "inherit" });
  // OPERATOR_SCALE_SIZES=1000 runs one size (the 10,000 run takes many minutes on 2 cores).
  const sizes = process.env.OPERATOR_SCALE_SIZES?.split(",").map(Number) ?? (smoke ? [20] : [1_000, 10_000]);
  const figures: Figure[] = [];
  for (const size of sizes) figures.push(...(await scenario(size, smoke ? 2 : 50, smoke ? 3 : 50, log)));
  // One namespace at 6,000 flags (OPERATOR_SCALE_SINGLE=0 skips it): fits one ConfigMap.
  const single = Number(process.env.OPERATOR_SCALE_SINGLE ?? (smoke ? 0 : 6_000));
  if (single > 0) {
    for (const figure of await scenario(single, 1, 20, log))
      figures.push({ ...figure, name: `one namespace, ${figure.name}` });
  }
  return { figures, notes: [options] };
}
