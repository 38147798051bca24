// Analysis against a real Prometheus and real Alertmanagers (Debian's packages) with the project's
// rule file: the query sees the app's error rate, the per-flag alert fires when it rises, the
// webhook router accepts Alertmanager's POST only with the token, and a stopped Prometheus makes
// the analysis Unavailable (and available again once it is back).
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FeatureFlag } from "../../../src/api/index.js";
import { alertmanagerWebhook, WEBHOOK_PATH } from "../../../src/operator/alert-intake.js";
import { analyzeFlag, type FiringAlert, outcomeFromAlerts } from "../../../src/rollout/analysis.js";
import { PrometheusClient } from "../../../src/rollout/prometheus.js";
import { type MetricsApp, startMetricsApp } from "../../support/metrics-app.js";
import {
  type AlertmanagerHandle,
  type PrometheusHandle,
  startAlertmanager,
  startPrometheus,
} from "../../support/prometheus.js";
import { waitFor } from "../../support/wait.js";

const TOKEN = "s3cret-webhook-token";
const ALERT = "FlagwrightFlagErrorRateHigh";

interface Receiver {
  url: string;
  alerts: FiringAlert[][];
  statuses: number[];
  close(): Promise<void>;
}

/** An HTTP server with only the webhook router mounted, recording what it answered. */
async function startReceiver(): Promise<Receiver> {
  const alerts: FiringAlert[][] = [];
  const statuses: number[] = [];
  const app = express();
  app.use((_req, res, next) => {
    res.on("finish", () => statuses.push(res.statusCode));
    next();
  });
  app.use(
    alertmanagerWebhook({
      token: TOKEN,
      onAlerts: (firing) => {
        alerts.push(firing);
      },
    }),
  );
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${WEBHOOK_PATH}`,
    alerts,
    statuses,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const flag = (
  key: string,
  analysis: NonNullable<NonNullable<FeatureFlag["spec"]["rollout"]>["canary"]>["analysis"],
) =>
  ({
    metadata: { name: key },
    spec: { enabled: true, key, rollout: { percent: 100, canary: { steps: [{ percent: 10 }], analysis } } },
  }) as FeatureFlag;

const alertAnalysis = (key: string) => ({ alerts: [{ alertName: ALERT, matchLabels: { flag: key } }] });
const errorRate = (key: string) =>
  `sum(rate(http_requests_total{flag="${key}",code=~"5.."}[1m])) / sum(rate(http_requests_total{flag="${key}"}[1m]))`;

describe("analysis against real Prometheus and Alertmanager", () => {
  let app: MetricsApp;
  let withToken: Receiver;
  let withoutToken: Receiver;
  let am: AlertmanagerHandle;
  let amNoToken: AlertmanagerHandle;
  let prometheus: PrometheusHandle;
  let client: PrometheusClient;

  beforeAll(async () => {
    app = await startMetricsApp();
    withToken = await startReceiver();
    withoutToken = await startReceiver();
    am = await startAlertmanager({ webhookUrl: withToken.url, token: TOKEN });
    amNoToken = await startAlertmanager({ webhookUrl: withoutToken.url });
    prometheus = await startPrometheus({
      targets: [app.target],
      alertmanagers: [am.target, amNoToken.target],
    });
    client = new PrometheusClient({ address: prometheus.url, timeoutMs: 2000 });
  });

  afterAll(async () => {
    await prometheus?.dispose();
    await am?.dispose();
    await amNoToken?.dispose();
    await withToken?.close();
    await withoutToken?.close();
    await app?.stop();
  });

  it("the query returns the app's error rate; below the threshold passes, above fails", async () => {
    app.setErrorRatio("steady", 0.02);
    const value = await waitFor(
      async () => {
        const v = await client.query(errorRate("steady"));
        return v.kind === "value" && !Number.isNaN(v.value) && v.value;
      },
      { timeoutMs: 20_000, intervalMs: 250, what: "an error rate for flag steady" },
    );
    expect(value).toBeGreaterThan(0.005);
    expect(value).toBeLessThan(0.05);

    const pass = await analyzeFlag(
      flag("steady", { query: { promql: errorRate("steady"), threshold: 0.05 } }),
      client,
      new Date(),
    );
    expect(pass).toMatchObject({ result: "Passed" });
    const fail = await analyzeFlag(
      flag("steady", { query: { promql: errorRate("steady"), threshold: 0.001 } }),
      client,
      new Date(),
    );
    expect(fail).toMatchObject({ result: "Failed", reason: "Query", query: errorRate("steady") });
    expect(fail.value).toBeGreaterThan(0.001);
  });

  it("an empty query result is inconclusive", async () => {
    const outcome = await analyzeFlag(
      flag("nobody", { query: { promql: errorRate("no-such-flag"), threshold: 0.05 } }),
      client,
      new Date(),
    );
    expect(outcome).toMatchObject({ result: "Inconclusive" });
  });

  it("the per-flag alert fires when the app's error rate rises, matched by its flag label", async () => {
    app.setErrorRatio("checkout", 0);
    app.setErrorRatio("search", 0);
    const checkout = flag("checkout", alertAnalysis("checkout"));
    const search = flag("search", alertAnalysis("search"));
    // Healthy first: the series exist and nothing fires.
    await waitFor(async () => (await client.query(errorRate("checkout"))).kind === "value", {
      timeoutMs: 20_000,
      intervalMs: 250,
      what: "checkout traffic in Prometheus",
    });
    expect(await analyzeFlag(checkout, client, new Date())).toMatchObject({ result: "Passed" });

    app.setErrorRatio("checkout", 0.5);
    const raisedAt = Date.now();
    const failed = await waitFor(
      async () => {
        const o = await analyzeFlag(checkout, client, new Date());
        return o.result === "Failed" && o;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: `${ALERT}{flag="checkout"} firing` },
    );
    expect(failed).toMatchObject({ reason: "Alert", alertName: ALERT });
    expect(failed.message).toContain('flag="checkout"');
    console.error(`[rollout] alert seen firing ${Date.now() - raisedAt} ms after raising the error rate`);
    // Another flag watching the same alert name for its own label is not affected.
    expect(await analyzeFlag(search, client, new Date())).toMatchObject({ result: "Passed" });
  });

  it("Alertmanager's webhook reaches the router with the token, and is refused without it", async () => {
    const received = await waitFor(
      () => withToken.alerts.flat().find((a) => a.labels.alertname === ALERT && a.labels.flag === "checkout"),
      { timeoutMs: 30_000, intervalMs: 100, what: "Alertmanager's POST with the checkout alert" },
    );
    expect(received.labels.severity).toBe("critical");
    expect(withToken.statuses).toContain(200);
    const outcome = outcomeFromAlerts(
      flag("checkout", alertAnalysis("checkout")).spec,
      [received],
      new Date(),
    );
    expect(outcome).toMatchObject({ result: "Failed", reason: "Alert", alertName: ALERT });
    expect(
      outcomeFromAlerts(flag("search", alertAnalysis("search")).spec, [received], new Date()),
    ).toBeUndefined();

    // The Alertmanager without credentials is turned away before its payload is read.
    await waitFor(() => withoutToken.statuses.includes(401), {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: "a 401 for the Alertmanager without the token",
    });
    expect(withoutToken.alerts).toEqual([]);
    expect(withoutToken.statuses.every((s) => s === 401)).toBe(true);
  });

  it("a stopped Prometheus makes analysis Unavailable; started again, it answers", async () => {
    await prometheus.stop();
    const checkout = flag("checkout", {
      ...alertAnalysis("checkout"),
      query: { promql: errorRate("checkout"), threshold: 1 },
    });
    const down = await analyzeFlag(checkout, client, new Date());
    expect(down.result).toBe("Unavailable");
    expect(down.message).toMatch(/Prometheus unreachable/);

    await prometheus.start();
    const back = await waitFor(
      async () => {
        const o = await analyzeFlag(
          flag("steady", { query: { promql: errorRate("steady"), threshold: 0.5 } }),
          client,
          new Date(),
        );
        return o.result === "Passed" && o;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: "analysis available again after the restart" },
    );
    expect(back.message).toContain("query value");
  });
});
