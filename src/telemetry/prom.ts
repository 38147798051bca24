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
import registryModule from "prom-client/lib/registry.js";

export const Registry: typeof PromClient.Registry = registryModule;
export const Counter: typeof PromClient.Counter = counterModule;
export const Gauge: typeof PromClient.Gauge = gaugeModule;
export const Histogram: typeof PromClient.Histogram = histogramModule;
export type Registry = PromClient.Registry;
export type Counter<T extends string = string> = PromClient.Counter<T>;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export type Histogram<T extends string = string> = PromClient.Histogram<T>;
