// What every route of the sidecar's HTTP surface reads: the options of createHandler, resolved
// once when the handler is made, so a request allocates nothing to find them.

import type { DocumentStore } from "../../source/store.js";
import type { ExperimentCounters } from "../../telemetry/experiment-counters.js";
import type { ContextLimits } from "../context-limits.js";
import type { EventStreamHub } from "../event-stream.js";
import type { ExperimentEvents } from "../experiment-events.js";
import type { ExposureLog } from "../exposure.js";
import type { SidecarMetrics } from "../metrics.js";
import type { OverBudgetLane } from "../over-budget-lane.js";

export interface HandlerOptions {
  store: DocumentStore;
  metrics: SidecarMetrics;
  exposure?: ExposureLog | undefined;
  /** Experiment exposures and conversions (POST /track); /track answers 404 without it. */
  experiments?: ExperimentCounters | undefined;
  /** Exposure and conversion events for the event store (per-user counts across pods); off when unset. */
  experimentEvents?: ExperimentEvents | undefined;
  maxBodyBytes: number;
  /** Nesting and size limits on evaluation contexts (400 beyond); default DEFAULT_CONTEXT_LIMITS. */
  contextLimits?: ContextLimits | undefined;
  /** Change notifications; bulk answers advertise them in `eventStreams` when set. */
  events?: EventStreamHub | undefined;
  /**
   * Base URL clients reach this server at, for the absolute `eventStreams` URL (a shared
   * evaluator behind a Service or ingress); default: the request's Host header.
   */
  publicUrl?: string | undefined;
  /**
   * Browser origins allowed to call this server ("*" for any): CORS headers on their requests and
   * answers to their preflights. Unset: no CORS headers (a sidecar serves its own pod).
   */
  corsOrigins?: readonly string[] | undefined;
  /**
   * For a shared evaluator serving many pods: whether a request's Authorization header carries the
   * bearer token (bearer-auth.ts) every OFREP and /track request must carry; 401 without it.
   * Probes and /metrics stay open. Unset: no token is asked for.
   */
  authorize?: ((authorization: string | undefined) => boolean) | undefined;
  /**
   * Where single-flag requests for a flag whose rules recently ran out of budget wait their turn
   * (over-budget-lane.ts). Unset: they are handled in arrival order like any other.
   */
  overBudgetLane?: OverBudgetLane | undefined;
  /** Set while shutting down: responses ask the client to close its connection. */
  isClosing(): boolean;
}

/** HandlerOptions with the defaults applied. */
export interface RouteContext extends HandlerOptions {
  readonly contextLimits: ContextLimits;
}
