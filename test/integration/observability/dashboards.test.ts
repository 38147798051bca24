// Every query of the Grafana dashboards (deploy/grafana/, the chart ships the same JSON) against a
// real Prometheus scraping a running operator and a sidecar: each returns data, with at least one
// number Grafana can draw (no panel that silently shows nothing). The scene: a canary whose
// analysis query fails (analysis results, a rollback), an A/B flag evaluated by many users
// (evaluations, exposures, latency), the sidecar watching the operator's ConfigMap (document age
// and revision), leader election on (the leading-replicas panel).
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { canarySpec, createFlag, getFlag } from "../../support/flag-objects.js";
import { clients, kubectl, testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { type SidecarProcess, startSidecarProcess } from "../../support/processes.js";
import { freePort, type PrometheusHandle, startPrometheus } from "../../support/prometheus.js";
import { waitFor } from "../../support/wait.js";

const { custom } = clients();
const folder = new URL("../../../deploy/grafana/", import.meta.url);
// Grafana's $__rate_interval depends on the time range; five minutes covers the whole test.
const RATE_INTERVAL = "5m";

interface Target {
  dashboard: string;
  panel: string;
  legend: string;
  expr: string;
}
const targets: Target[] = readdirSync(folder)
  .filter((f) => f.endsWith(".json"))
  .flatMap((file) => {
    const dashboard = JSON.parse(readFileSync(new URL(file, folder), "utf8"));
    return (
      dashboard.panels as { title: string; targets: { expr: string; legendFormat: string }[] }[]
    ).flatMap((panel) =>
      panel.targets.map((t) => ({
        dashboard: dashboard.title as string,
        panel: panel.title,
        legend: t.legendFormat,
        expr: t.expr.replaceAll("$__rate_interval", RATE_INTERVAL),
      })),
    );
  });

let apps: Awaited<ReturnType<typeof testNamespace>>;
let system: Awaited<ReturnType<typeof testNamespace>>;
let sidecar: SidecarProcess | undefined;
let operator: OperatorProcess | undefined;
let prometheus: PrometheusHandle | undefined;
let traffic: NodeJS.Timeout | undefined;
let ticker: NodeJS.Timeout | undefined;

beforeAll(async () => {
  apps = await testNamespace("dash-apps");
  system = await testNamespace("dash-system");
  await createFlag(custom, apps.name, "checkout", {
    enabled: true,
    variants: [
      { name: "control", weight: 50 },
      { name: "treatment", weight: 50 },
    ],
  });
  // vector(1) is above the threshold: the first check fails and the canary rolls back.
  await createFlag(
    custom,
    apps.name,
    "doomed",
    canarySpec([10, 100], "1h", { query: { promql: "vector(1)", threshold: 0.5 }, interval: "1s" }),
  );
  sidecar = await startSidecarProcess(apps.name);
  const operatorPort = await freePort();
  prometheus = await startPrometheus({
    targets: [`127.0.0.1:${operatorPort}`, new URL(sidecar.url).host],
  });
  operator = await startOperator([
    "--http-address",
    `127.0.0.1:${operatorPort}`,
    "--namespaces",
    apps.name,
    "--prometheus-url",
    prometheus.url,
    "--leader-elect",
    "--leader-election-namespace",
    system.name,
  ]);
  // The operator reconciles only on change (its own writes do not come back as work), so a flag
  // edited every second keeps the reconcile and queue histograms' rates defined.
  await createFlag(custom, apps.name, "ticker", { enabled: true, rollout: { percent: 50 } });
  let tick = 0;
  ticker = setInterval(() => {
    tick++;
    void kubectl([
      "patch",
      "featureflag",
      "ticker",
      "-n",
      apps.name,
      "--type",
      "merge",
      "-p",
      JSON.stringify({ spec: { description: `edit ${tick}` } }),
    ]).catch(() => {});
  }, 1_000);
  // Users keep arriving (new users are new exposures), plus a key the document does not have.
  let user = 0;
  const url = sidecar.url;
  traffic = setInterval(() => {
    user++;
    void sidecar?.evaluate("checkout", `user-${user}`).catch(() => {});
    void sidecar?.evaluate("no-such-flag", `user-${user}`).catch(() => {});
    void fetch(`${url}/ofrep/v1/evaluate/flags`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ context: { targetingKey: `user-${user}` } }),
    }).catch(() => {});
  }, 100);
  await waitFor(async () => (await getFlag(custom, apps.name, "doomed")).status?.phase === "RolledBack", {
    timeoutMs: 30_000,
    what: "the doomed canary to roll back",
  });
}, 120_000);

afterAll(async () => {
  clearInterval(traffic);
  clearInterval(ticker);
  await operator?.stop();
  await sidecar?.stop();
  await prometheus?.dispose();
  await apps?.remove();
  await system?.remove();
});

/** The instant query's series and whether any value is a finite number. */
async function query(expr: string): Promise<{ series: number; finite: boolean }> {
  const res = await fetch(`${prometheus?.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data?: { result: { value: [number, string] }[] };
  };
  if (body.status !== "success") throw new Error(`${expr}: ${body.error}`);
  const result = body.data?.result ?? [];
  return { series: result.length, finite: result.some((r) => Number.isFinite(Number(r.value[1]))) };
}

it("the dashboards have panels to check", () => {
  expect(targets.length).toBeGreaterThanOrEqual(20);
});

it("every dashboard query returns data from the operator and the sidecar", async () => {
  const empty = new Set(targets);
  // Some series appear only after a few scrapes (rates need two samples): ask until all answer.
  await waitFor(
    async () => {
      for (const target of [...empty]) {
        const { finite } = await query(target.expr);
        if (finite) empty.delete(target);
      }
      return empty.size === 0;
    },
    {
      timeoutMs: 60_000,
      intervalMs: 1_000,
      what: "every panel to show data",
    },
  ).catch((error: Error) => {
    const missing = [...empty].map((t) => `  ${t.dashboard} / ${t.panel} (${t.legend}): ${t.expr}`);
    throw new Error(`${error.message}; without data:\n${missing.join("\n")}`);
  });
  console.log(`${targets.length} dashboard queries returned data`);
}, 90_000);
