// The canary analysis stack shared by the end-to-end canary test and the propagation benchmark:
// the metrics test app, a real Alertmanager whose only receiver is the operator's webhook, a real
// Prometheus (the project's rules, 1 s scrape and evaluation) notifying it, and the real operator
// process pointed at both. Also the two observations both need: when an alert began firing, and
// when the operator received Alertmanager's webhook for it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MetricsApp, startMetricsApp } from "./metrics-app.js";
import { type OperatorProcess, startOperator } from "./operator.js";
import {
  type AlertmanagerHandle,
  freePort,
  type PrometheusHandle,
  startAlertmanager,
  startPrometheus,
} from "./prometheus.js";
import { waitFor } from "./wait.js";

/** The project's per-flag error-rate alert (deploy/prometheus/flagwright-rules.yaml). */
export const ERROR_RATE_ALERT = "FlagwrightFlagErrorRateHigh";

/** PromQL: the share of a flag's requests that failed over 30 s, from the metrics app's counter. */
export const errorRateQuery = (key: string) =>
  `sum(rate(http_requests_total{flag="${key}",code=~"5.."}[30s])) / sum(rate(http_requests_total{flag="${key}"}[30s]))`;

/** `analysis.alerts` watching the error-rate alert of one flag. */
export const watchErrorRateAlert = (key: string) => ({
  alerts: [{ alertName: ERROR_RATE_ALERT, matchLabels: { flag: key } }],
});

export interface AnalysisStack {
  app: MetricsApp;
  alertmanager: AlertmanagerHandle;
  prometheus: PrometheusHandle;
  operator: OperatorProcess;
  /**
   * Until this is called the operator's webhook token file holds a wrong token: Alertmanager is
   * turned away (401) and only the operator's polling of Prometheus can act.
   */
  acceptWebhooks(): void;
  /** Alertmanager first (no webhook in flight while the operator shuts down), then the rest. */
  stop(): Promise<void>;
}

export interface AnalysisStackOptions {
  /** Namespaces the operator watches. */
  namespaces: string[];
  /** Flag keys the app serves healthy traffic for from the start (a baseline before any is watched). */
  trafficFor: string[];
  /** Kubeconfig of the control plane; default the test suite's. */
  kubeconfig?: string;
  log?: (line: string) => void;
}

export async function startAnalysisStack(options: AnalysisStackOptions): Promise<AnalysisStack> {
  const log = options.log ?? ((line: string) => console.warn(line));
  const token = `stack-${Math.random().toString(36).slice(2)}`;
  const tokenDir = mkdtempSync(join(tmpdir(), "flagwright-analysis-"));
  const tokenFile = join(tokenDir, "webhook-token");
  writeFileSync(tokenFile, "not-the-token-alertmanager-sends\n");
  const started: Partial<Omit<AnalysisStack, "acceptWebhooks" | "stop">> = {};

  const stop = async () => {
    await started.alertmanager?.dispose();
    await started.prometheus?.dispose();
    const operator = started.operator;
    if (operator) {
      // SIGTERM must be enough; if it is not, say so and do not leave the process behind.
      const exited = await Promise.race([
        operator.stop().then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 20_000).unref()),
      ]);
      if (!exited) {
        log("the operator did not exit within 20 s of SIGTERM; killing it");
        await operator.kill();
      }
    }
    await started.app?.stop();
    rmSync(tokenDir, { recursive: true, force: true });
  };

  try {
    const app = await startMetricsApp();
    started.app = app;
    for (const key of options.trafficFor) app.setErrorRatio(key, 0);
    // Alertmanager needs the operator's address and the operator needs Prometheus': pick the
    // operator's port first.
    const operatorPort = await freePort();
    started.alertmanager = await startAlertmanager({
      webhookUrl: `http://127.0.0.1:${operatorPort}/webhooks/alertmanager`,
      token,
    });
    const prometheus = await startPrometheus({
      targets: [app.target],
      alertmanagers: [started.alertmanager.target],
    });
    started.prometheus = prometheus;
    started.operator = await startOperator(
      [
        "--namespaces",
        options.namespaces.join(","),
        "--http-address",
        `127.0.0.1:${operatorPort}`,
        "--prometheus-url",
        prometheus.url,
        "--webhook-token-file",
        tokenFile,
        // One metrics app serves the flags of several namespaces and its series carry no namespace
        // label: a single-tenant setup (test/integration/rollout/prometheus-credentials.test.ts and
        // guarded-e2e.test.ts run with enforcement on).
        "--promql-namespace-enforcement=false",
      ],
      options.kubeconfig ? { kubeconfig: options.kubeconfig } : {},
    );
    // The query has data before any flag depends on it (otherwise the first checks are Inconclusive).
    const probeKey = options.trafficFor[0];
    if (probeKey !== undefined) {
      await waitFor(
        async () => {
          const res = await fetch(
            `${prometheus.url}/api/v1/query?query=${encodeURIComponent(errorRateQuery(probeKey))}`,
          );
          const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
          const value = body.data?.result?.[0]?.value[1];
          return value !== undefined && value !== "NaN";
        },
        { timeoutMs: 30_000, intervalMs: 250, what: "the app's error rate in Prometheus" },
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    ...(started as Omit<AnalysisStack, "acceptWebhooks" | "stop">),
    acceptWebhooks: () => writeFileSync(tokenFile, `${token}\n`),
    stop,
  };
}

/**
 * When the error-rate alert of `key` began firing, as Prometheus reports it (`activeAt`: the rule
 * evaluation that first found it true; the rule has `for: 0s`, so active means firing), in ms.
 */
export async function alertFiringSince(
  prometheusUrl: string,
  key: string,
  { timeoutMs = 30_000 }: { timeoutMs?: number } = {},
): Promise<number> {
  const firing = await waitFor(
    async () => {
      const res = await fetch(`${prometheusUrl}/api/v1/alerts`);
      const body = (await res.json()) as {
        data: { alerts: { labels: Record<string, string>; state: string; activeAt: string }[] };
      };
      return body.data.alerts.find(
        (a) => a.labels.alertname === ERROR_RATE_ALERT && a.labels.flag === key && a.state === "firing",
      );
    },
    { timeoutMs, intervalMs: 100, what: `${ERROR_RATE_ALERT}{flag="${key}"} firing in /api/v1/alerts` },
  );
  return Date.parse(firing.activeAt);
}

/**
 * When Alertmanager's webhook for `key`'s alert reached the operator, in ms: the operator logs each
 * webhook alert in the same synchronous handler that received the request, so the log line's time
 * is the request's arrival.
 */
export async function webhookArrival(
  operator: OperatorProcess,
  key: string,
  { timeoutMs = 30_000 }: { timeoutMs?: number } = {},
): Promise<number> {
  const received = await waitFor(
    () =>
      operator.logs.find(
        (l) =>
          l.msg === "analysis" &&
          l.flag === key &&
          l.result === "Failed" &&
          String(l.message).endsWith("(Alertmanager)"),
      ),
    { timeoutMs, intervalMs: 5, what: `the webhook for ${key}` },
  );
  return Date.parse(String(received.time));
}
