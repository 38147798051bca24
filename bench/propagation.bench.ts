// Propagation and time to safety, end to end on a private control plane: the real operator
// process, a real `flagwright sidecar --configmap` (API watch), Debian's Prometheus and
// Alertmanager and the metrics test app, all on loopback (test/support/analysis-stack.ts).
//
// What each path measures, start → end (end is always the first OFREP answer from the sidecar
// process that shows the change, polled every 5 ms over HTTP):
// - apply: start of `kubectl apply` (a child process, so its start-up and discovery count) →
//   the sidecar serves the change; API write: start of one PATCH request → the same.
// - webhook: Alertmanager's webhook request reaching the operator ("alert firing" as the operator
//   can first know it) → the sidecar answers off; also from the alert's Prometheus `activeAt`.
// - poll: the alert's `activeAt` in Prometheus (the rule evaluation that first found it true; the
//   rule has `for: 0s`) → the sidecar answers off, with the webhook refused so only the operator's
//   polling (analysis interval 1 s) can act.
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import type { FeatureFlagSpec } from "../src/api/index.js";
import { GROUP, PLURAL, VERSION } from "../src/api/index.js";
import { fineBucketOf, percentThreshold } from "../src/core/index.js";
import { installCrds, kubectl, startCluster } from "../test/cluster/cluster.js";
import {
  type AnalysisStack,
  alertFiringSince,
  errorRateQuery,
  startAnalysisStack,
  watchErrorRateAlert,
  webhookArrival,
} from "../test/support/analysis-stack.js";
import { canarySpec, createFlag, getFlag } from "../test/support/flag-objects.js";
import { type SidecarProcess, startSidecarProcess } from "../test/support/processes.js";
import { waitFor } from "../test/support/wait.js";
import { type BenchResult, type Figure, summarize } from "./stats.js";

export const name = "propagation";
export const description =
  "Time from a change, or from an alert firing, until a sidecar in API-watch mode answers with it: " +
  "real kube-apiserver + etcd, operator, sidecar, Prometheus (1 s scrape and rule evaluation) and " +
  "Alertmanager (group_wait 0 s) on loopback, every process sharing the machine's cores. " +
  "p99 is interpolated between the two largest of 30 samples, so read it with the max.";

const NAMESPACE = "propagation";
const CANARY_PERCENT = 10;
/** Kubelet defaults (KubeletConfiguration syncFrequency; the kubelet's ConfigMap TTL cache). */
const KUBELET_SYNC_S = 60;
const CONFIGMAP_CACHE_TTL_S = 60;
const ANALYSIS_INTERVAL_S = 60;

/** A targeting key inside the first canary step for `key`, so "off" is a visible change for it. */
function userInCanary(key: string): string {
  for (let i = 0; ; i++) {
    if (fineBucketOf(key, `user-${i}`) < percentThreshold(CANARY_PERCENT)) return `user-${i}`;
  }
}

/** Date.now() of the first sidecar answer for (key, user) whose value is `expected`. */
function servedAt(sidecar: SidecarProcess, key: string, user: string, expected: unknown, timeoutMs = 60_000) {
  return waitFor(async () => (await sidecar.evaluate(key, user)).value === expected && Date.now(), {
    timeoutMs,
    intervalMs: 5,
    what: `the sidecar answering ${String(expected)} for ${key}`,
  });
}

/** Runs `work(i)` for i < runs, `lanes` at a time (1: strictly one after the other). */
async function inLanes(runs: number, lanes: number, work: (i: number) => Promise<void>) {
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = lane; i < runs; i += lanes) await work(i);
    }),
  );
}

export async function run({ smoke }: { smoke: boolean }): Promise<BenchResult> {
  const log = (line: string) => console.error(`[propagation] ${line}`);
  const runs = smoke ? 3 : Number(process.env.PROPAGATION_RUNS ?? 30);
  // Smoke runs the alert paths' runs side by side (seconds, not minutes); a real run keeps them
  // apart, because rollbacks in one namespace queue behind each other's reconcile.
  const lanes = smoke ? runs : 1;
  const pollKeys = Array.from({ length: runs }, (_, i) => `poll-${i}`);
  const webhookKeys = Array.from({ length: runs }, (_, i) => `webhook-${i}`);

  const cluster = await startCluster();
  let stack: AnalysisStack | undefined;
  let sidecar: SidecarProcess | undefined;
  try {
    await installCrds(cluster);
    await kubectl(cluster, ["create", "namespace", NAMESPACE]);
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const core = kc.makeApiClient(CoreV1Api);
    stack = await startAnalysisStack({
      namespaces: [NAMESPACE],
      trafficFor: [...pollKeys, ...webhookKeys],
      kubeconfig: cluster.kubeconfig,
      log,
    });
    const { app, prometheus, operator } = stack;

    // (a) kubectl apply / API write → sidecar serves it.
    const applyKey = "apply-target";
    const manifest = (enabled: boolean) =>
      JSON.stringify({
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "FeatureFlag",
        metadata: { name: applyKey, namespace: NAMESPACE },
        spec: { enabled, rollout: { percent: 100 } } satisfies FeatureFlagSpec,
      });
    await kubectl(cluster, ["apply", "-f", "-"], manifest(true));
    await waitFor(() => core.readNamespacedConfigMap({ name: "flagwright-flags", namespace: NAMESPACE }), {
      timeoutMs: 30_000,
      what: "the namespace's ConfigMap",
    });
    sidecar = await startSidecarProcess(NAMESPACE, "flagwright-flags", cluster.kubeconfig);
    const served = sidecar;
    await servedAt(served, applyKey, "someone", true);
    const applyMs: number[] = [];
    const patchMs: number[] = [];
    let enabled = true;
    for (let i = 0; i < runs; i++) {
      enabled = !enabled;
      const started = Date.now();
      const seen = servedAt(served, applyKey, "someone", enabled, 10_000);
      await kubectl(cluster, ["apply", "-f", "-"], manifest(enabled));
      applyMs.push((await seen) - started);

      enabled = !enabled;
      const patched = Date.now();
      const seenPatch = servedAt(served, applyKey, "someone", enabled, 10_000);
      await custom.patchNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: NAMESPACE,
        plural: PLURAL,
        name: applyKey,
        body: [{ op: "replace", path: "/spec/enabled", value: enabled }],
      });
      patchMs.push((await seenPatch) - patched);
    }
    log(`apply path: ${runs} runs done`);

    /** Creates canaries at their first step with a passed check, ready for an alert. */
    const prepareCanaries = async (keys: string[], interval: string) => {
      for (const key of keys) {
        await createFlag(
          custom,
          NAMESPACE,
          key,
          canarySpec([CANARY_PERCENT, 100], "1h", { ...watchErrorRateAlert(key), interval }),
        );
      }
      await waitFor(
        async () => {
          for (const key of keys) {
            const s = (await getFlag(custom, NAMESPACE, key)).status;
            if (s?.phase !== "Progressing" || s.lastAnalysis?.result !== "Passed") return false;
          }
          return true;
        },
        { timeoutMs: 60_000, intervalMs: 250, what: "every canary at its first step with a passed check" },
      );
      for (const key of keys) await servedAt(served, key, userInCanary(key), true);
    };

    // (c) Poll path first: the webhook token is still wrong, so only polling can act.
    await prepareCanaries(pollKeys, "1s");
    const pollMs: number[] = [];
    const pollRaiseToFiring: number[] = [];
    await inLanes(runs, lanes, async (i) => {
      const key = pollKeys[i] as string;
      const raised = Date.now();
      app.setErrorRatio(key, 0.5);
      const off = servedAt(served, key, userInCanary(key), false);
      const firedAt = await alertFiringSince(prometheus.url, key, { timeoutMs: 60_000 });
      pollMs.push((await off) - firedAt);
      pollRaiseToFiring.push(firedAt - raised);
    });
    log(`poll path: ${runs} runs done`);

    // (b) Webhook path: analysis every hour, so after the check at the start of the step only
    // Alertmanager's webhook can act.
    stack.acceptWebhooks();
    await prepareCanaries(webhookKeys, "1h");
    const webhookMs: number[] = [];
    const webhookFromActiveMs: number[] = [];
    await inLanes(runs, lanes, async (i) => {
      const key = webhookKeys[i] as string;
      app.setErrorRatio(key, 0.5);
      const off = servedAt(served, key, userInCanary(key), false);
      const arrived = await webhookArrival(operator, key, { timeoutMs: 60_000 });
      const offAt = await off;
      webhookMs.push(offAt - arrived);
      webhookFromActiveMs.push(offAt - (await alertFiringSince(prometheus.url, key)));
    });
    log(`webhook path: ${runs} runs done`);

    // The analysis loop's own query, timed against this Prometheus (for the computed figure).
    const queryMs: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      await (
        await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(errorRateQuery("poll-0"))}`)
      ).json();
      queryMs.push(performance.now() - t0);
    }

    const p50 = (samples: number[]) => summarize(samples).median;
    const max = (samples: number[]) => summarize(samples).max;
    const seconds = (ms: number) => Math.round(ms) / 1000;
    const distribution = (figureName: string, samples: number[], note?: string): Figure => ({
      name: figureName,
      unit: "ms",
      samples,
      stat: "percentiles",
      ...(note && { note }),
    });
    const computed = (figureName: string, valueS: number, note: string): Figure => ({
      name: figureName,
      unit: "s",
      samples: [valueS],
      computed: true,
      note,
    });
    const query = p50(queryMs);
    return {
      figures: [
        distribution("kubectl apply → sidecar serves the change", applyMs, "includes kubectl's own start-up"),
        distribution("API write (one PATCH) → sidecar serves the change", patchMs),
        distribution("alert firing (webhook reaches the operator) → sidecar answers off", webhookMs),
        distribution(
          "alert firing (Prometheus activeAt) → sidecar answers off, Alertmanager webhook path",
          webhookFromActiveMs,
          "adds Prometheus' notification and Alertmanager's dispatch (group_wait 0 s) to the row above",
        ),
        distribution(
          "alert firing (Prometheus activeAt) → sidecar answers off, polling path (analysis interval 1 s)",
          pollMs,
        ),
        distribution(
          "context: error ratio raised → alert activeAt",
          pollRaiseToFiring,
          "1 s scrape and rule evaluation over a 1-minute rate window; not part of time to safety",
        ),
        computed(
          "ConfigMap volume instead of API watch, kubelet Watch cache (default): expected",
          seconds(KUBELET_SYNC_S * 500 + p50(webhookMs)),
          `half the kubelet sync period (syncFrequency ${KUBELET_SYNC_S} s default) + the measured webhook p50; the --file sidecar's own reload (tens of ms) is not added`,
        ),
        computed(
          "ConfigMap volume, kubelet Watch cache: worst case",
          seconds(KUBELET_SYNC_S * 1000 + max(webhookMs)),
          "a full sync period + the measured webhook max",
        ),
        computed(
          "ConfigMap volume, kubelet TTL cache (configMapAndSecretChangeDetectionStrategy: Cache): expected",
          seconds((KUBELET_SYNC_S + CONFIGMAP_CACHE_TTL_S) * 500 + p50(webhookMs)),
          `half the sync period + half the cache TTL (${CONFIGMAP_CACHE_TTL_S} s) + the webhook p50, assuming independent uniform phases`,
        ),
        computed(
          "ConfigMap volume, kubelet TTL cache: worst case",
          seconds((KUBELET_SYNC_S + CONFIGMAP_CACHE_TTL_S) * 1000 + max(webhookMs)),
          "sync period + cache TTL + the webhook max (the Kubernetes docs' bound)",
        ),
        computed(
          `analysis loop every ${ANALYSIS_INTERVAL_S} s (Flagger / Argo Rollouts style): expected`,
          seconds(ANALYSIS_INTERVAL_S * 500 + query + p50(webhookMs)),
          `half the interval + the measured query time (${query.toFixed(0)} ms) + the measured webhook p50 as the cost of acting; assumes it acts on the first failed check (failure limit 1) and the metric already crossed its threshold`,
        ),
        computed(
          `analysis loop every ${ANALYSIS_INTERVAL_S} s: worst case`,
          seconds(ANALYSIS_INTERVAL_S * 1000 + max(queryMs) + max(webhookMs)),
          "a full interval + the slowest query + the webhook max; each further required failed check adds an interval",
        ),
      ],
      ratios: [
        {
          name: `analysis loop (${ANALYSIS_INTERVAL_S} s) expected ÷ measured webhook path p50`,
          samples: [(ANALYSIS_INTERVAL_S * 500 + query + p50(webhookMs)) / p50(webhookMs)],
        },
      ],
      notes: [
        `${runs} runs per path${lanes > 1 ? `, ${lanes} at a time (smoke)` : ", one after the other"}; each alert run uses its own flag and error series.`,
        "Target: p99 under 1 s for the webhook and API-watch paths.",
        "Not as deployed: the operator and the sidecar run from the sources (tsx) with V8's default options, not the chart's NODE_OPTIONS or the injected sidecar's V8 options; this benchmark times propagation, which those heap limits do not bound.",
      ],
    };
  } finally {
    await sidecar?.stop();
    await stack?.stop();
    await cluster.stop();
  }
}
