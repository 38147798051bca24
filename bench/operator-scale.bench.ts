// Operator scale on a private local control plane: create N flags across 50 namespaces and time
// until every one is projected; then, under that load, the latency from a single spec change to
// its ConfigMap; the operator's peak memory; and the projected bytes per flag.
import { readFileSync } from "node:fs";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION } from "../src/api/index.js";
import { parseDocument } from "../src/core/index.js";
import { installCrds, kubectl, startCluster } from "../test/cluster/cluster.js";
import { startOperator } from "../test/support/operator.js";

export const name = "operator-scale";
export const description =
  "flags created → all projected, single-change latency under load, operator peak memory";

const NAMESPACES = 50;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

/** Peak resident memory (VmHWM) of a process, in MiB. */
function peakMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

async function scenario(total: number, changes: number, log: (line: string) => void) {
  const cluster = await startCluster();
  const operatorProcess: { stop?: () => Promise<void> } = {};
  try {
    await installCrds(cluster);
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `scale-${i}`);
    for (const ns of namespaces) await kubectl(cluster, ["create", "namespace", ns]);
    const operator = await startOperator(["--workers", "4"], { kubeconfig: cluster.kubeconfig });
    operatorProcess.stop = operator.stop;

    const flags = Array.from({ length: total }, (_, i) => ({
      ns: namespaces[i % NAMESPACES] as string,
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
        projectedBytes += text.length;
        count += Object.keys(parseDocument(text).flags).length;
      }
      if (count === total) break;
      if (Date.now() - started > 20 * 60_000)
        throw new Error(`only ${count} of ${total} flags projected after 20 minutes`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const allProjectedMs = Date.now() - started;
    log(`all ${total} projected ${allProjectedMs} ms after the first create`);

    // Single changes under load: patch one flag's percent, time until its ConfigMap shows it.
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
      for (;;) {
        const cm = await core.readNamespacedConfigMap({ name: "flagwright-flags", namespace: ns });
        if (parseDocument(cm.data?.["flags.json"] ?? "").flags[flagName]?.percent === percent) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      latencies.push(performance.now() - t0);
    }
    latencies.sort((a, b) => a - b);
    const peak = peakMiB(operator.child.pid ?? 0);
    return {
      [`${total} flags: create all (ms)`]: createdMs,
      [`${total} flags: first create → all projected (ms)`]: allProjectedMs,
      [`${total} flags: single change → ConfigMap p50 (ms)`]: Math.round(percentile(latencies, 50)),
      [`${total} flags: single change → ConfigMap p99 (ms)`]: Math.round(percentile(latencies, 99)),
      [`${total} flags: operator peak RSS (MiB)`]: Math.round(peak),
      [`${total} flags: projected bytes per flag`]: Math.round(projectedBytes / total),
    };
  } finally {
    await operatorProcess.stop?.();
    await cluster.stop();
  }
}

export async function run({ smoke }: { smoke: boolean }): Promise<Record<string, unknown>> {
  const log = (line: string) => console.error(`[operator-scale] ${line}`);
  // OPERATOR_SCALE_SIZES=1000 runs one size (the 10,000 run takes many minutes on 2 cores).
  const sizes = process.env.OPERATOR_SCALE_SIZES?.split(",").map(Number) ?? (smoke ? [100] : [1_000, 10_000]);
  const results: Record<string, unknown> = {};
  for (const size of sizes) Object.assign(results, await scenario(size, smoke ? 5 : 50, log));
  return results;
}
