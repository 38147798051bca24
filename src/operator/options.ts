// The operator's settings, as the CLI's flags set them (src/cli/commands/operator-options.ts).
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { ExperimentEventReader } from "../experiment/event-store.js";
import type { PrometheusSettings } from "../rollout/prometheus.js";
import type { RolloutOptions } from "../rollout/steps.js";
import type { AlertmanagerWebhookOptions } from "./alert-intake.js";
import type { LeaderElectionSettings, Runnable } from "./manager.js";

export interface OperatorOptions {
  kc: KubeConfig;
  log: Logger;
  /** Namespaces to watch; empty means all. */
  namespaces?: string[];
  configMapName?: string;
  workers?: number;
  /** host:port for /healthz, /readyz and /metrics; port 0 picks a free one. */
  httpAddress?: string;
  leaderElection?: LeaderElectionSettings;
  identity?: string;
  /** Prometheus for canary analysis; without it, flags with analysis hold with AnalysisUnavailable. */
  prometheus?: PrometheusSettings;
  /** Other Prometheus addresses trusted with the operator's credentials (--prometheus-allowed-address). */
  prometheusAllowedAddresses?: string[];
  /** Confine flag-authored PromQL and alert matches to the flag's namespace (default true). */
  promqlNamespaceEnforcement?: boolean;
  /** Bearer token for POST /webhooks/alertmanager; the route is off without one. */
  webhookToken?: AlertmanagerWebhookOptions["token"];
  rollout?: RolloutOptions;
  /** How often the analysis loop looks for due checks (default 1 s). */
  analysisTickMs?: number;
  /** How often experiment results and Stale conditions are recomputed (default 60 s). */
  experimentIntervalMs?: number;
  /** Experiment event store (per-user counts across pods); without it experiments read Prometheus. */
  eventStore?: ExperimentEventReader;
  /** How long shutdown waits for in-flight reconciles (default 10 s). */
  drainDeadlineMs?: number;
  /** Started first, on every replica, before the operator's own parts (the admission webhooks). */
  runnables?: Runnable[];
  now?: () => Date;
  /** Informer tuning, for tests of outages. */
  informer?: { watchTimeoutSeconds?: number; maxBackoffMs?: number };
}
