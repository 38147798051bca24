// On the real control plane, a real Prometheus and the real operator: the application's metrics
// endpoint is replaced mid-experiment (one process stops, another starts with fresh counters, as a
// deploy replaces a pod), then the operator is killed and restarted while that process restarts
// too (a counter reset on the same series). The counts in status.experiment never fall, end at
// everything the processes counted, and the Significant verdict keeps its winner throughout.
import type { Server } from "node:http";
import { Counter, Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_VERSION, type FeatureFlag, GROUP, KIND, PLURAL, VERSION } from "../../../src/api/index.js";
import type { ExperimentResult } from "../../../src/experiment/analysis.js";
import { clients, testNamespace } from "../../support/kube.js";
import { serveMetrics } from "../../support/metrics-app.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { freePort, type PrometheusHandle, startPrometheus } from "../../support/prometheus.js";
import { waitFor } from "../../support/wait.js";

const { custom } = clients();
let ns: { name: string; remove(): Promise<void> };
let prometheus: PrometheusHandle;
let operator: OperatorProcess | undefined;
const servers = new Set<Server>();

type Counts = Record<string, { exposures: number; conversions: number }>;

/** One process of the application: the sidecar's two experiment counters, set to `counts`. */
async function appProcess(port: number, counts: Counts) {
  const registry = new Registry();
  const exposures = new Counter({
    name: "flagwright_exposures_total",
    help: "Exposures.",
    labelNames: ["namespace", "flag", "variant"],
    registers: [registry],
  });
  const conversions = new Counter({
    name: "flagwright_conversions_total",
    help: "Conversions.",
    labelNames: ["namespace", "flag", "variant", "event"],
    registers: [registry],
  });
  for (const [variant, c] of Object.entries(counts)) {
    exposures.inc({ namespace: ns.name, flag: "checkout", variant }, c.exposures);
    conversions.inc({ namespace: ns.name, flag: "checkout", variant, event: "purchase" }, c.conversions);
  }
  const { server } = await serveMetrics(registry, port);
  servers.add(server);
  return {
    async stop() {
      servers.delete(server);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function promValue(promql: string): Promise<number | undefined> {
  const res = await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
  const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
  const first = body.data?.result?.[0];
  return first === undefined ? undefined : Number(first.value[1]);
}

async function experiment(): Promise<ExperimentResult | undefined> {
  const flag = (await custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns.name,
    plural: PLURAL,
    name: "checkout",
  })) as FeatureFlag;
  return flag.status?.experiment as ExperimentResult | undefined;
}

const operatorArgs = () => [
  "--namespaces",
  ns.name,
  "--prometheus-url",
  prometheus.url,
  "--experiment-interval",
  "1s",
];

let portA: number;
let portB: number;

beforeAll(async () => {
  ns = await testNamespace("exp-pods");
  portA = await freePort();
  portB = await freePort();
  prometheus = await startPrometheus({ targets: [`127.0.0.1:${portA}`, `127.0.0.1:${portB}`] });
  await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns.name,
    plural: PLURAL,
    body: {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: "checkout", namespace: ns.name },
      spec: {
        enabled: true,
        variants: [
          { name: "control", weight: 50 },
          { name: "treatment", weight: 50 },
        ],
        // Planned for a large lift, so a few hundred users per variant decide.
        experiment: { conversionEvent: "purchase", minSamplePerVariant: 50, minDetectableEffect: 1 },
      },
    },
  });
}, 120_000);

afterAll(async () => {
  await operator?.stop();
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  await prometheus?.dispose();
  await ns?.remove();
});

describe("experiment counts when the application's processes are replaced", () => {
  it("never fall, end at everything counted, and the verdict keeps its winner", async () => {
    const seen: { control: number; treatment: number; verdict: string; winner?: string }[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const e = await experiment().catch(() => undefined);
        const count = (name: string) => e?.variants?.find((v) => v.name === name)?.exposures;
        const control = count("control");
        const treatment = count("treatment");
        if (e !== undefined && control !== undefined && treatment !== undefined)
          seen.push({
            control,
            treatment,
            verdict: e.verdict,
            ...(e.winner !== undefined && { winner: e.winner }),
          });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const countsAre = (expected: Counts) =>
      waitFor(
        async () => {
          const e = await experiment();
          const got = Object.fromEntries(
            (e?.variants ?? []).map((v) => [v.name, { exposures: v.exposures, conversions: v.conversions }]),
          );
          return JSON.stringify(got) === JSON.stringify(expected) && e;
        },
        { timeoutMs: 40_000, intervalMs: 200, what: `status.experiment counts ${JSON.stringify(expected)}` },
      );
    const scraped = (port: number, up: 0 | 1) =>
      waitFor(async () => (await promValue(`up{instance="127.0.0.1:${port}"}`)) === up, {
        timeoutMs: 20_000,
        intervalMs: 200,
        what: `Prometheus to see 127.0.0.1:${port} ${up ? "up" : "down"}`,
      });

    try {
      // The first process counts; the operator decides.
      const first = await appProcess(portA, {
        control: { exposures: 200, conversions: 20 },
        treatment: { exposures: 200, conversions: 100 },
      });
      await scraped(portA, 1);
      operator = await startOperator(operatorArgs());
      const decided = await countsAre({
        control: { exposures: 200, conversions: 20 },
        treatment: { exposures: 200, conversions: 100 },
      });
      expect(decided).toMatchObject({ verdict: "Significant", winner: "treatment" });

      // A deploy: the first process goes away, a new one starts from zero.
      await first.stop();
      await scraped(portA, 0);
      let second = await appProcess(portB, {
        control: { exposures: 30, conversions: 3 },
        treatment: { exposures: 30, conversions: 8 },
      });
      await scraped(portB, 1);
      await countsAre({
        control: { exposures: 230, conversions: 23 },
        treatment: { exposures: 230, conversions: 108 },
      });

      // The operator crashes; meanwhile the new process restarts (its counters reset, same series;
      // each restarts below its old value, or Prometheus could not tell the reset at all).
      await operator.kill();
      operator = undefined;
      await second.stop();
      await scraped(portB, 0);
      second = await appProcess(portB, {
        control: { exposures: 10, conversions: 1 },
        treatment: { exposures: 10, conversions: 5 },
      });
      await scraped(portB, 1);
      operator = await startOperator(operatorArgs());
      const final = await countsAre({
        control: { exposures: 240, conversions: 24 },
        treatment: { exposures: 240, conversions: 113 },
      });
      expect(final).toMatchObject({ verdict: "Significant", winner: "treatment" });
      await second.stop();
    } finally {
      watching = false;
      await watcher;
    }

    // Every reading the watcher took: counts only grew, and once decided the verdict stayed.
    expect(seen.length).toBeGreaterThan(10);
    for (let i = 1; i < seen.length; i++) {
      const [before, after] = [seen[i - 1], seen[i]];
      expect(after?.control).toBeGreaterThanOrEqual(before?.control ?? 0);
      expect(after?.treatment).toBeGreaterThanOrEqual(before?.treatment ?? 0);
    }
    const decidedAt = seen.findIndex((s) => s.verdict === "Significant");
    expect(decidedAt).toBeGreaterThanOrEqual(0);
    for (const s of seen.slice(decidedAt))
      expect(s).toMatchObject({ verdict: "Significant", winner: "treatment" });
  }, 180_000);
});
