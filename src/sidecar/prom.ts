// prom-client's classes, imported from its lib/ files rather than its index. The index also loads
// the cluster aggregator, the Pushgateway client and every default metric (the CPU one pulls in
// @opentelemetry/api for exemplars): measured alone on a bare Node 20 HTTP server, the index with
// collectDefaultMetrics costs about 8.8 MiB of RSS, these classes 1.6 MiB. A sidecar runs in every
// pod, so it loads only these; the names, formats and behaviour are prom-client's own.
// Static imports, so the CLI bundle inlines these files: resolving them one by one from
// node_modules at start-up made Node's path functions hot enough for the optimizing compiler.
import type * as PromClient from "prom-client";
import counterModule from "prom-client/lib/counter.js";
import gaugeModule from "prom-client/lib/gauge.js";
import histogramModule from "prom-client/lib/histogram.js";
import osMemoryHeap from "prom-client/lib/metrics/osMemoryHeap.js";
import maxFileDescriptors from "prom-client/lib/metrics/processMaxFileDescriptors.js";
import openFileDescriptors from "prom-client/lib/metrics/processOpenFileDescriptors.js";
import processStartTime from "prom-client/lib/metrics/processStartTime.js";
import registryModule from "prom-client/lib/registry.js";

export const Registry: typeof PromClient.Registry = registryModule;
export const Counter: typeof PromClient.Counter = counterModule;
export const Gauge: typeof PromClient.Gauge = gaugeModule;
export const Histogram: typeof PromClient.Histogram = histogramModule;
export type Registry = PromClient.Registry;
export type Counter<T extends string = string> = PromClient.Counter<T>;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export type Histogram<T extends string = string> = PromClient.Histogram<T>;

/**
 * The process metrics every Prometheus client exports (process_cpu_seconds_total and its user and
 * system parts, process_resident_memory_bytes, process_virtual_memory_bytes, process_heap_bytes,
 * process_start_time_seconds, process_open_fds, process_max_fds); not prom-client's nodejs_*
 * runtime metrics (event loop lag, GC, heap spaces, handles).
 */
export function registerProcessMetrics(registry: PromClient.Registry): void {
  for (const metric of [processStartTime, osMemoryHeap, openFileDescriptors, maxFileDescriptors]) {
    metric(registry, {});
  }
  // prom-client's CPU collector loads @opentelemetry/api for exemplars (2 MiB of RSS in the
  // sidecar): the same three counters, read from process.cpuUsage() at scrape time.
  // One reading per scrape, so user + system is the total: the first counter's collect (run first,
  // in registration order) sets all three.
  const registers = [registry];
  const user: PromClient.Counter = new Counter({
    name: "process_cpu_user_seconds_total",
    help: "Total user CPU time spent in seconds.",
    registers,
    collect() {
      const usage = process.cpuUsage();
      for (const [counter, micros] of [
        [user, usage.user],
        [system, usage.system],
        [total, usage.user + usage.system],
      ] as const) {
        counter.reset();
        counter.inc(micros / 1e6);
      }
    },
  });
  const system = new Counter({
    name: "process_cpu_system_seconds_total",
    help: "Total system CPU time spent in seconds.",
    registers,
  });
  const total = new Counter({
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
    registers,
  });
}
