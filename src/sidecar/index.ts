// `flagwright sidecar`: serves OFREP next to an application from the namespace's flag document.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { ExperimentEventWriter } from "../experiment/event-store.js";
import { loadKubeConfig } from "../kube/kubeconfig.js";
import { createLogger } from "../log.js";
import type { ConfigMapSource } from "../source/configmap-source.js";
import { FileSource } from "../source/file-source.js";
import { DocumentStore } from "../source/store.js";
import { ExperimentCounters, type ExposureMode } from "../telemetry/experiment-counters.js";
import { type ContextLimits, DEFAULT_CONTEXT_LIMITS } from "./context-limits.js";
import { logDocumentChanges } from "./document-log.js";
import { EventStreamHub, type EventStreamOptions } from "./event-stream.js";
import type { ExperimentEvents } from "./experiment-events.js";
import { ExposureLog, randomExposureKey } from "./exposure.js";
import { createHandler } from "./http.js";
import { SidecarMetrics } from "./metrics.js";
import { OverBudgetLane } from "./over-budget-lane.js";
import { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS, limitedServer, listen } from "./server.js";

export { FileSource } from "../source/file-source.js";
export { DocumentStore, type LoadedDocument } from "../source/store.js";
export { ExperimentCounters, type ExposureMode } from "../telemetry/experiment-counters.js";
export { type ContextLimits, DEFAULT_CONTEXT_LIMITS } from "./context-limits.js";
export { EventStreamHub, type EventStreamOptions, OFREP_EVENTS } from "./event-stream.js";
export { etagMatches } from "./http.js";
export { SidecarMetrics } from "./metrics.js";
export { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS, serverOptions } from "./server.js";

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 8016;

/**
 * Requests of one over-budget flag that wait at once: twice the connections a client library
 * typically keeps to one host, and at 64 KiB a body at most 1 MiB of buffered bodies per flag.
 */
export const DEFAULT_OVER_BUDGET_WAITING = 16;

export type SourceOptions =
  | { kind: "file"; path: string; key?: string; pollIntervalMs?: number }
  | { kind: "configmap"; namespace: string; name: string; key?: string; kubeConfig?: KubeConfig };

export interface SidecarOptions {
  source: SourceOptions;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  maxBodyBytes?: number;
  /** Nesting and size limits on evaluation contexts; a context beyond them gets 400. */
  contextLimits?: Partial<ContextLimits>;
  /** Connection cap and request timeouts. */
  connectionLimits?: Partial<ConnectionLimits>;
  /**
   * Single-flag requests that may wait at once for a flag whose rules recently ran out of
   * evaluation budget (over-budget-lane.ts); more are answered 429 before their bodies are read.
   * Default DEFAULT_OVER_BUDGET_WAITING.
   */
  overBudgetWaitingPerFlag?: number;
  /** Path for exposure JSON lines, or "-" for stdout; off when unset. */
  exposureLog?: string;
  /**
   * Key of the exposure log's user hash (HMAC-SHA256), shared by every sidecar whose events must
   * join; unset: a random key per process.
   */
  exposureKey?: Uint8Array;
  /**
   * Exposure and conversion events written to the experiment event store in batches (users
   * counted once across pods and restarts); needs `exposureKey`, shared by every sidecar.
   */
  eventStore?: { writer: ExperimentEventWriter; maxPending?: number; flushIntervalMs?: number };
  /** Experiment exposure counting: first per user per process (default), or every evaluation. */
  exposures?: { mode?: ExposureMode; maxUsers?: number };
  logger?: Logger;
  /** How long shutdown waits for in-flight requests before cutting connections. */
  shutdownTimeoutMs?: number;
  /** OFREP event streams (SSE, ADR 0008); `false` turns them off. */
  eventStreams?: Partial<EventStreamOptions> | false;
  /** Base URL clients reach this server at, for the advertised event stream URL. */
  publicUrl?: string;
  /** Bearer token required on OFREP and /track (a shared evaluator); unset: none. */
  authToken?: string;
  /** Browser origins allowed to call OFREP here (CORS); "*" for any. */
  corsOrigins?: readonly string[];
  /** Process metrics (CPU, memory, file descriptors, start time); default true. */
  defaultMetrics?: boolean;
}

export interface Sidecar {
  readonly url: string;
  readonly address: AddressInfo;
  readonly store: DocumentStore;
  readonly metrics: SidecarMetrics;
  readonly server: Server;
  readonly events: EventStreamHub | undefined;
  /** Resolves when the first good document is serving. */
  ready(): Promise<void>;
  /** Stops accepting, lets in-flight requests finish, stops the source. */
  close(): Promise<void>;
}

function exposureLog(target: string, key: Uint8Array | undefined, log: Logger): ExposureLog {
  if (key !== undefined) return new ExposureLog(target, key);
  log.warn(
    { reason: "ExposureKeyRandom" },
    "exposure log user hashes use a random key of this process: they join within this process only; give every sidecar the same --exposure-key-file for hashes that join across pods and restarts",
  );
  return new ExposureLog(target, randomExposureKey());
}

function sourceLabel(source: SourceOptions): string {
  return source.kind === "file" ? "file" : "configmap";
}

/** The event store's batcher, loaded only with an event store: it needs node:crypto, which a sidecar otherwise never loads. */
async function experimentEventsFor(
  options: SidecarOptions,
  metrics: SidecarMetrics,
  log: Logger,
): Promise<ExperimentEvents | undefined> {
  const eventStore = options.eventStore;
  if (eventStore === undefined) return undefined;
  if (options.exposureKey === undefined)
    throw new Error(
      "an event store needs the exposure key (--exposure-key-file) shared by every sidecar: with a key per process a user would count once per pod",
    );
  return new (await import("./experiment-events.js")).ExperimentEvents({
    writer: eventStore.writer,
    key: options.exposureKey,
    registry: metrics.registry,
    maxPending: eventStore.maxPending,
    flushIntervalMs: eventStore.flushIntervalMs,
    maxUsers: options.exposures?.maxUsers,
    onWriteError: (error, held) =>
      log.warn(
        { reason: "EventStoreWriteFailed", err: error.message, held },
        "cannot write experiment events; keeping them and retrying",
      ),
  });
}

/** The source that offers document text to `store`, not yet started. */
async function documentSource(
  src: SourceOptions,
  store: DocumentStore,
  log: Logger,
): Promise<FileSource | ConfigMapSource> {
  const onText = (text: string, origin: string) => store.offer(text, origin);
  const onError = (error: Error, origin: string) => store.fail("read", origin, error);
  if (src.kind === "file")
    return new FileSource({
      path: src.path,
      key: src.key,
      pollIntervalMs: src.pollIntervalMs,
      onText,
      onError,
    });
  // Loaded only in API-watch mode: the Kubernetes client is most of a sidecar's memory.
  return new (await import("../source/configmap-source.js")).ConfigMapSource({
    kubeConfig: src.kubeConfig ?? (await loadKubeConfig()),
    namespace: src.namespace,
    name: src.name,
    key: src.key,
    onText,
    onError,
    onEvent: (_event, origin) => log.info({ reason: "ConfigMapDeleted", origin }, "configmap delete"),
  });
}

/** What shutdown stops, in order. */
interface Running {
  readonly log: Logger;
  readonly server: Server;
  readonly events: EventStreamHub | undefined;
  readonly source: FileSource | ConfigMapSource;
  readonly exposure: ExposureLog | undefined;
  readonly experimentEvents: ExperimentEvents | undefined;
  readonly stopObservingRuleBudget: () => void;
  readonly shutdownTimeoutMs: number;
}

async function shutDown(r: Running): Promise<void> {
  r.log.info({ reason: "ShuttingDown" }, "sidecar shutting down");
  const done = new Promise<void>((resolve) => r.server.close(() => resolve()));
  // Event streams never go idle: end them so server.close() can finish.
  r.events?.closeAll();
  r.server.closeIdleConnections();
  const timer = setTimeout(() => r.server.closeAllConnections(), r.shutdownTimeoutMs);
  timer.unref();
  await done;
  clearTimeout(timer);
  await r.source.stop();
  await r.exposure?.close();
  if (r.experimentEvents !== undefined) {
    const { written, lost } = await r.experimentEvents.close(r.shutdownTimeoutMs);
    if (lost > 0)
      r.log.error(
        { reason: "EventStoreUnavailable", written, lost },
        "experiment events not written before shutdown: the event store did not take them",
      );
    else r.log.info({ reason: "EventsFlushed", written }, "experiment events written");
  }
  r.stopObservingRuleBudget();
  r.log.info({ reason: "Stopped" }, "sidecar stopped");
}

export async function startSidecar(options: SidecarOptions): Promise<Sidecar> {
  const log = options.logger ?? createLogger("sidecar");
  const store = new DocumentStore();
  const metrics = new SidecarMetrics(store, sourceLabel(options.source), {
    defaultMetrics: options.defaultMetrics ?? true,
  });
  const exposure = options.exposureLog
    ? exposureLog(options.exposureLog, options.exposureKey, log)
    : undefined;
  const experiments = new ExperimentCounters(metrics.registry, options.exposures);
  const experimentEvents = await experimentEventsFor(options, metrics, log);
  const events =
    options.eventStreams === false ? undefined : new EventStreamHub(store, options.eventStreams ?? {});
  if (events) metrics.observeEventStreams(events);
  const stopObservingRuleBudget = metrics.observeRuleBudget(log);
  const overBudgetLane = new OverBudgetLane(options.overBudgetWaitingPerFlag ?? DEFAULT_OVER_BUDGET_WAITING);
  metrics.observeOverBudgetLane(overBudgetLane);
  const ready = new Promise<void>((resolve) => store.listen({ loaded: () => resolve() }));
  logDocumentChanges(store, log);

  let closing = false;
  const handler = createHandler({
    store,
    metrics,
    exposure,
    experiments,
    experimentEvents,
    events,
    publicUrl: options.publicUrl,
    corsOrigins: options.corsOrigins,
    authorize:
      options.authToken === undefined
        ? undefined
        : (await import("./bearer-auth.js")).bearerTokenCheck(options.authToken),
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
    contextLimits: { ...DEFAULT_CONTEXT_LIMITS, ...options.contextLimits },
    overBudgetLane,
    isClosing: () => closing,
  });
  const server = limitedServer({ ...DEFAULT_CONNECTION_LIMITS, ...options.connectionLimits }, handler, log);
  const { address, url } = await listen(server, options.port ?? DEFAULT_PORT, options.host ?? DEFAULT_HOST);
  log.info({ reason: "Listening", url, source: options.source.kind }, "sidecar listening");

  const source = await documentSource(options.source, store, log);
  try {
    await source.start();
  } catch (error) {
    server.close();
    stopObservingRuleBudget();
    await options.eventStore?.writer.close();
    throw error;
  }
  const running: Running = {
    log,
    server,
    events,
    source,
    exposure,
    experimentEvents,
    stopObservingRuleBudget,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 10_000,
  };
  let closed: Promise<void> | undefined;
  const close = () => {
    closing = true;
    closed ??= shutDown(running);
    return closed;
  };
  return { url, address, store, metrics, server, events, ready: () => ready, close };
}
