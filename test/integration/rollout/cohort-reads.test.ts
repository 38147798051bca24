// The guarded rollout's counter reads against a real Prometheus (1 s scrape): a flag-on error
// series born during the step, typically at its first error, must count that error. increase()
// alone only counts increments between samples, so it misses each new series' first value: on a
// canary at 1-5 % exposure, where every pod's first flag-on error creates a series, that biases the
// comparison against rollback.
import type { Server } from "node:http";
import { Counter, Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cohortQueries } from "../../../src/rollout/cohort.js";
import type { CohortSpec } from "../../../src/rollout/cohort-statistics.js";
import { PrometheusClient } from "../../../src/rollout/prometheus.js";
import { serveMetrics } from "../../support/metrics-app.js";
import { type PrometheusHandle, startPrometheus } from "../../support/prometheus.js";
import { waitFor } from "../../support/wait.js";

const spec: CohortSpec = {
  requests: "http_requests_total",
  errors: 'http_requests_total{code="500"}',
  maxRelativeDegradation: 0.5,
};

describe("cohort reads against a real Prometheus", () => {
  let server: Server | undefined;
  let prometheus: PrometheusHandle | undefined;
  const registry = new Registry();
  const requests = new Counter({
    name: "http_requests_total",
    help: "Requests by flag, served variant, pod and status code.",
    labelNames: ["feature_flag_key", "feature_flag_result_variant", "pod", "code"],
    registers: [registry],
  });

  beforeAll(async () => {
    const served = await serveMetrics(registry);
    server = served.server;
    prometheus = await startPrometheus({ targets: [`127.0.0.1:${served.port}`], ruleFiles: [] });
  });

  afterAll(async () => {
    await prometheus?.dispose();
    await new Promise((resolve) => server?.close(resolve));
  });

  it("counts the first error of flag-on error series born during the step, which increase() alone drops", async () => {
    const client = new PrometheusClient({ address: prometheus?.url ?? "" });
    const value = async (promql: string, at: Date) => {
      const v = await client.query(promql, at);
      return v.kind === "value" ? v.value : 0;
    };
    const on = { feature_flag_key: "checkout", feature_flag_result_variant: "on" };
    // A flag-on request series that exists before the step begins.
    requests.inc({ ...on, pod: "a", code: "200" }, 100);
    await waitFor(async () => (await value('count(http_requests_total{code="200"})', new Date())) === 1, {
      timeoutMs: 30_000,
      what: "the request series scraped",
    });
    const stepStartedAt = new Date();
    // Five pods fail once each for flag-on users (each error creates its series), one of them twice more.
    for (const pod of ["a", "b", "c", "d", "e"]) requests.inc({ ...on, pod, code: "500" }, 1);
    await waitFor(async () => (await value('count(http_requests_total{code="500"})', new Date())) === 5, {
      timeoutMs: 30_000,
      what: "the five error series scraped",
    });
    requests.inc({ ...on, pod: "e", code: "500" }, 2);
    // The pod "d" is replaced: its series goes stale, but its error happened during the step.
    requests.remove({ ...on, pod: "d", code: "500" });
    await waitFor(async () => (await value('sum(http_requests_total{code="500"})', new Date())) === 6, {
      timeoutMs: 30_000,
      what: "pod e's later errors scraped and pod d gone",
    });
    const at = new Date();
    const window = (at.getTime() - stepStartedAt.getTime()) / 1000;
    const errors = await value(cohortQueries(spec, "checkout", window).onErrors, at);
    const increaseOnly = await value(
      `sum(increase(http_requests_total{code="500", feature_flag_key="checkout", feature_flag_result_variant=~"on"}[${Math.round(window)}s]))`,
      at,
    );
    console.log(
      `cohort reads: 7 flag-on errors in ${window.toFixed(1)} s, all on series born during the step; ` +
        `read ${errors}, increase() alone ${increaseOnly.toFixed(2)}`,
    );
    expect(errors).toBe(7);
    expect(increaseOnly).toBeLessThan(5);
  }, 120_000);
});
