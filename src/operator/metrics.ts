// The operator's metrics: controller-runtime's names where they overlap (so existing dashboards
// work), flagwright_* for ours. One registry per operator instance keeps tests independent.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

const CONTROLLER = "featureflag";

export function createOperatorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const reconcileTotal = new Counter({
    name: "controller_runtime_reconcile_total",
    help: "Total number of reconciliations per controller and result.",
    labelNames: ["controller", "result"],
    registers: [registry],
  });
  const reconcileErrors = new Counter({
    name: "controller_runtime_reconcile_errors_total",
    help: "Total number of reconciliation errors per controller.",
    labelNames: ["controller"],
    registers: [registry],
  });
  const reconcileTime = new Histogram({
    name: "controller_runtime_reconcile_time_seconds",
    help: "Length of time per reconciliation per controller.",
    labelNames: ["controller"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const activeWorkers = new Gauge({
    name: "controller_runtime_active_workers",
    help: "Number of currently used workers per controller.",
    labelNames: ["controller"],
    registers: [registry],
  });
  const queueLabels = { name: CONTROLLER };
  const depth = new Gauge({
    name: "workqueue_depth",
    help: "Current depth of workqueue.",
    labelNames: ["name"],
    registers: [registry],
  });
  const adds = new Counter({
    name: "workqueue_adds_total",
    help: "Total number of adds handled by workqueue.",
    labelNames: ["name"],
    registers: [registry],
  });
  const retries = new Counter({
    name: "workqueue_retries_total",
    help: "Total number of retries handled by workqueue.",
    labelNames: ["name"],
    registers: [registry],
  });
  const queueDuration = new Histogram({
    name: "workqueue_queue_duration_seconds",
    help: "How long in seconds an item stays in workqueue before being requested.",
    labelNames: ["name"],
    buckets: [0.001, 0.01, 0.1, 1, 10, 60],
    registers: [registry],
  });
  const flags = new Gauge({
    name: "flagwright_flags",
    help: "FeatureFlags by phase.",
    labelNames: ["phase"],
    registers: [registry],
  });
  const projectionBytes = new Gauge({
    name: "flagwright_projection_bytes",
    help: "Size of the projected flags document per namespace (the ConfigMap limit is 1 MiB).",
    labelNames: ["namespace"],
    registers: [registry],
  });
  const rollbacks = new Counter({
    name: "flagwright_rollbacks_total",
    help: "Automatic and manual rollbacks to 0 %.",
    labelNames: ["namespace", "flag", "reason"],
    registers: [registry],
  });
  const writes = new Counter({
    name: "flagwright_api_writes_total",
    help: "Writes the operator made to the API server, by kind (configmap, status, event, alert): zero while nothing changes.",
    labelNames: ["kind"],
    registers: [registry],
  });
  const statusWritesPending = new Gauge({
    name: "flagwright_status_writes_pending",
    help: "Planned status writes not yet done (they run after the ConfigMap, off the projection path).",
    registers: [registry],
  });
  const leader = new Gauge({
    name: "leader_election_master_status",
    help: "1 while this replica holds the leader lease, 0 otherwise.",
    labelNames: ["name"],
    registers: [registry],
  });
  return {
    registry,
    reconcile: {
      total: (result: "success" | "error" | "requeue" | "requeue_after") =>
        reconcileTotal.inc({ controller: CONTROLLER, result }),
      error: () => reconcileErrors.inc({ controller: CONTROLLER }),
      time: (seconds: number) => reconcileTime.observe({ controller: CONTROLLER }, seconds),
      activeWorkers: (n: number) => activeWorkers.set({ controller: CONTROLLER }, n),
    },
    queue: {
      depth: depth.labels(queueLabels),
      adds: adds.labels(queueLabels),
      retries: retries.labels(queueLabels),
      queueDuration: queueDuration.labels(queueLabels),
    },
    flags,
    projectionBytes,
    rollbacks,
    writes,
    statusWritesPending,
    leader,
  };
}

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;
export type QueueMetrics = OperatorMetrics["queue"];
