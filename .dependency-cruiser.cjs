// The layer rules of src/, checked by `npm run lint` (docs/development.md, "Layers").
// Dependencies point inward: core and experiment are pure and import nothing else of src/;
// api adds the resource schema; kube, rollout, hygiene, controls and the document sources build
// on those; telemetry and sse are leaves any process may use; the
// processes (operator, sidecar, provider, dashboard) sit on top and never import each other;
// only cli (the entry points) may reach everything.
const LAYERS = {
  core: [],
  experiment: ["api", "core"],
  api: ["core"],
  kube: ["api", "core"],
  hygiene: ["api", "core", "kube"],
  source: ["api", "core", "kube"],
  telemetry: ["core"],
  sse: [],
  rollout: ["api", "core", "experiment", "kube"],
  controls: ["api", "core", "kube", "rollout"],
  operator: ["api", "core", "experiment", "kube", "rollout", "hygiene"],
  sidecar: ["api", "core", "experiment", "kube", "source", "sse", "telemetry"],
  provider: ["api", "core", "source", "telemetry"],
  dashboard: ["api", "core", "experiment", "hygiene", "kube", "controls", "sse"],
};

// Files at src/'s top level (log.ts, host-port.ts) are small shared utilities any layer may use.
const layerRules = Object.entries(LAYERS).map(([layer, allowed]) => ({
  name: `layer-${layer}`,
  comment: `src/${layer}/ may import only ${allowed.length > 0 ? allowed.map((a) => `src/${a}/`).join(", ") : "itself"} within src/`,
  severity: "error",
  from: { path: `^src/${layer}/` },
  to: { path: "^src/[^/]+/", pathNot: [`^src/(${[layer, ...allowed].join("|")})/`] },
}));

/** @type {import("dependency-cruiser").IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "a cycle makes two modules one; split out what both need",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    ...layerRules,
    {
      name: "core-no-io",
      comment: "evaluation is pure: no file, network or process I/O in src/core/ or src/experiment/",
      severity: "error",
      from: { path: "^src/(core|experiment)/" },
      to: {
        path: "^(node:)?(fs|fs/promises|http|https|http2|net|tls|dgram|child_process|worker_threads|cluster)$",
      },
    },
    {
      name: "src-not-from-tests",
      comment: "shipped code never imports tests, benchmarks or scripts",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(test|bench|scripts)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(node_modules|dist)/|\\.generated\\.ts$" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      conditionNames: ["import", "require", "node", "default"],
    },
  },
};
