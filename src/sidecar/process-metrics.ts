// The process metrics of the sidecar's registry, apart from prom.ts so that code needing only the
// metric classes (the in-process provider's experiment counters) does not load them.
import osMemoryHeap from "prom-client/lib/metrics/osMemoryHeap.js";
import maxFileDescriptors from "prom-client/lib/metrics/processMaxFileDescriptors.js";
import openFileDescriptors from "prom-client/lib/metrics/processOpenFileDescriptors.js";
import processStartTime from "prom-client/lib/metrics/processStartTime.js";
import { Counter, type Registry } from "../telemetry/prom.js";

/**
 * The process metrics every Prometheus client exports (process_cpu_seconds_total and its user and
 * system parts, process_resident_memory_bytes, process_virtual_memory_bytes, process_heap_bytes,
 * process_start_time_seconds, process_open_fds, process_max_fds); not prom-client's nodejs_*
 * runtime metrics (event loop lag, GC, heap spaces, handles).
 */
export function registerProcessMetrics(registry: Registry): void {
  for (const metric of [processStartTime, osMemoryHeap, openFileDescriptors, maxFileDescriptors]) {
    metric(registry, {});
  }
  // prom-client's CPU collector loads @opentelemetry/api for exemplars (2 MiB of RSS in the
  // sidecar): the same three counters, read from process.cpuUsage() at scrape time.
  // One reading per scrape, so user + system is the total: the first counter's collect (run first,
  // in registration order) sets all three.
  const registers = [registry];
  const user: Counter = new Counter({
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
