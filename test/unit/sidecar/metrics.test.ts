import * as promClient from "prom-client";
import { describe, expect, it } from "vitest";
import { SidecarMetrics } from "../../../src/sidecar/metrics.js";
import { DocumentStore } from "../../../src/source/store.js";
import * as prom from "../../../src/telemetry/prom.js";
import { metricValue } from "./helpers.js";

describe("sidecar process metrics", () => {
  it("exports the standard process_* metrics, CPU as totals since the process started", async () => {
    const metrics = new SidecarMetrics(new DocumentStore(), "file");
    const text = await metrics.registry.metrics();
    const used = process.cpuUsage();
    const user = metricValue(text, "process_cpu_user_seconds_total") ?? Number.NaN;
    const system = metricValue(text, "process_cpu_system_seconds_total") ?? Number.NaN;
    // Read after the scrape, so at least what the scrape saw: user and system add up to the total.
    expect(user).toBeGreaterThan(0);
    expect(user).toBeLessThanOrEqual(used.user / 1e6);
    expect(system).toBeLessThanOrEqual(used.system / 1e6);
    expect(metricValue(text, "process_cpu_seconds_total")).toBeCloseTo(user + system, 6);
    expect(text).toContain("# TYPE process_cpu_seconds_total counter");
    expect(metricValue(text, "process_resident_memory_bytes")).toBeGreaterThan(10 * 1024 * 1024);
    // prom-client rounds the start time to the second, so it may lie up to half a second ahead.
    const started = metricValue(text, "process_start_time_seconds") ?? Number.NaN;
    expect(started).toBeLessThanOrEqual(Date.now() / 1000 + 0.5);
    expect(started).toBeGreaterThan(Date.now() / 1000 - process.uptime() - 1);
    expect(metricValue(text, "process_open_fds")).toBeGreaterThan(0);
    // The nodejs_* runtime collectors (event loop, GC, heap spaces) are not loaded in the sidecar.
    expect(text).not.toContain("nodejs_");
  });

  it("takes prom-client's own classes from its lib/ files (a prom-client that moves them fails here)", () => {
    expect(prom.Registry).toBe(promClient.Registry);
    expect(prom.Counter).toBe(promClient.Counter);
    expect(prom.Gauge).toBe(promClient.Gauge);
    expect(prom.Histogram).toBe(promClient.Histogram);
  });

  it("exports none of them with defaultMetrics: false", async () => {
    const text = await new SidecarMetrics(new DocumentStore(), "file", {
      defaultMetrics: false,
    }).registry.metrics();
    expect(text).not.toContain("process_");
    expect(metricValue(text, "flagwright_sidecar_reloads_total", { source: "file" })).toBe(0);
  });
});
