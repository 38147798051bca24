// The operator's metrics: controller-runtime's names where they overlap (so existing dashboards
// work), flagwright_* for ours. One registry per operator instance keeps tests independent.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { FeatureFlag } from "../api/index.js";

const CONTROLLER = "featureflag";

/** controller-runtime's reconcile metrics, for the one controller. */
function reconcileMetrics(registry: Registry) {
  const total = new Counter({
    name: "controller_runtime_reconcile_total",
    help: "Total number of reconciliations per controller and result.",
    labelNames: ["controller", "result"],
    registers: [registry],
  });
  const errors = new Counter({
    name: "controller_runtime_reconcile_errors_total",
    help: "Total number of reconciliation errors per controller.",
    labelNames: ["controller"],
    registers: [registry],
  });
  const time = new Histogram({
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
  return {
    total: (result: "success" | "error" | "requeue" | "requeue_after") =>
      total.inc({ controller: CONTROLLER, result }),
    error: () => errors.inc({ controller: CONTROLLER }),
    time: (seconds: number) => time.observe({ controller: CONTROLLER }, seconds),
    activeWorkers: (n: number) => activeWorkers.set({ controller: CONTROLLER }, n),
  };
}

/** client-go's workqueue metrics, for the one queue. */
function queueMetrics(registry: Registry) {
  const labels = { name: CONTROLLER };
  const labelNames = ["name"];
  return {
    depth: new Gauge({
      name: "workqueue_depth",
      help: "Current depth of workqueue.",
      labelNames,
      registers: [registry],
    }).labels(labels),
    adds: new Counter({
      name: "workqueue_adds_total",
      help: "Total number of adds handled by workqueue.",
      labelNames,
      registers: [registry],
    }).labels(labels),
    retries: new Counter({
      name: "workqueue_retries_total",
      help: "Total number of retries handled by workqueue.",
      labelNames,
      registers: [registry],
    }).labels(labels),
    queueDuration: new Histogram({
      name: "workqueue_queue_duration_seconds",
      help: "How long in seconds an item stays in workqueue before being requested.",
      labelNames,
      buckets: [0.001, 0.01, 0.1, 1, 10, 60],
      registers: [registry],
    }).labels(labels),
  };
}

/** flagwright_* metrics: flags, projections, rollbacks, writes. */
function flagwrightMetrics(registry: Registry) {
  return {
    flags: new Gauge({
      name: "flagwright_flags",
      help: "FeatureFlags by phase.",
      labelNames: ["phase"],
      registers: [registry],
    }),
    projectionBytes: new Gauge({
      name: "flagwright_projection_bytes",
      help: "Size of the projected flags document per namespace (the ConfigMap limit is 1 MiB).",
      labelNames: ["namespace"],
      registers: [registry],
    }),
    rollbacks: new Counter({
      name: "flagwright_rollbacks_total",
      help: "Automatic and manual rollbacks to 0 %.",
      labelNames: ["namespace", "flag", "reason"],
      registers: [registry],
    }),
    writes: new Counter({
      name: "flagwright_api_writes_total",
      help: "Writes the operator made to the API server, by kind (configmap, status, event, alert): zero while nothing changes.",
      labelNames: ["kind"],
      registers: [registry],
    }),
    statusWritesPending: new Gauge({
      name: "flagwright_status_writes_pending",
      help: "Planned status writes not yet done (they run after the ConfigMap, off the projection path).",
      registers: [registry],
    }),
  };
}

export function createOperatorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Registered in this order, which is the order /metrics lists them in.
  return {
    registry,
    reconcile: reconcileMetrics(registry),
    queue: queueMetrics(registry),
    ...flagwrightMetrics(registry),
    leader: new Gauge({
      name: "leader_election_master_status",
      help: "1 while this replica holds the leader lease, 0 otherwise.",
      labelNames: ["name"],
      registers: [registry],
    }),
  };
}

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;
export type QueueMetrics = OperatorMetrics["queue"];

/** flagwright_flags from the cache, before a scrape: one pass, no copy. */
export function countFlagsByPhase(
  metrics: Pick<OperatorMetrics, "flags">,
  flags: Iterable<FeatureFlag>,
): void {
  metrics.flags.reset();
  for (const flag of flags) metrics.flags.inc({ phase: flag.status?.phase ?? "Pending" });
}
