// Types for the prom-client lib/ files the sidecar imports one by one (the package types only its
// index): each file's module.exports is the index's export of the same name.
declare module "prom-client/lib/registry.js" {
  const Registry: typeof import("prom-client").Registry;
  export default Registry;
}
declare module "prom-client/lib/counter.js" {
  const Counter: typeof import("prom-client").Counter;
  export default Counter;
}
declare module "prom-client/lib/gauge.js" {
  const Gauge: typeof import("prom-client").Gauge;
  export default Gauge;
}
declare module "prom-client/lib/histogram.js" {
  const Histogram: typeof import("prom-client").Histogram;
  export default Histogram;
}
/** A default metric: registers its gauges on the registry and reads the process at scrape time. */
declare module "prom-client/lib/metrics/*" {
  const register: (registry: import("prom-client").Registry, config?: object) => void;
  export default register;
}
