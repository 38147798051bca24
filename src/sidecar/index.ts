// `flagwright sidecar`: serves OFREP next to an application from the namespace's flag document.
import { createServer, type Server, type ServerOptions } from "node:http";
import type { AddressInfo } from "node:net";
import type { KubeConfig } from "@kubernetes/client-node";
import { type Logger, pino } from "pino";
import type { ExperimentEventWriter } from "../experiment/event-store.js";
import { loadKubeConfig } from "../kube/kubeconfig.js";
import { FileSource } from "../source/file-source.js";
import { DocumentStore } from "../source/store.js";
import { ExperimentCounters, type ExposureMode } from "../telemetry/experiment-counters.js";
import { type ContextLimits, DEFAULT_CONTEXT_LIMITS } from "./context-limits.js";
import { EventStreamHub, type EventStreamOptions } from "./event-stream.js";
import { ExposureLog, randomExposureKey } from "./exposure.js";
import { createHandler } from "./http.js";
import { SidecarMetrics } from "./metrics.js";
import { OverBudgetLane } from "./over-budget-lane.js";

export { FileSource } from "../source/file-source.js";
export { DocumentStore, type LoadedDocument } from "../source/store.js";
export { ExperimentCounters, type ExposureMode } from "../telemetry/experiment-counters.js";
export { type ContextLimits, DEFAULT_CONTEXT_LIMITS } from "./context-limits.js";
export { EventStreamHub, type EventStreamOptions, OFREP_EVENTS } from "./event-stream.js";
export { etagMatches } from "./http.js";
export { SidecarMetrics } from "./metrics.js";

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 8016;

/** How many connections the server holds and how long a client may take to send a request. */
export interface ConnectionLimits {
  /** Open connections beyond which a new one is closed as soon as it is accepted. */
  maxConnections: number;
  /** Time a client has to send a request's headers (408 and closed after). */
  headersTimeoutMs: number;
  /**
   * Time a client has to send a whole request, headers and body. Node counts only the receiving
   * of the request, so an event stream (a GET, complete with its headers) outlives it.
   */
  requestTimeoutMs: number;
  /** Idle time after which a kept-alive connection is closed. */
  keepAliveTimeoutMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 4096,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  // Longer than the 60 s idle timeout of common proxies and clients' pools, so the client side
  // closes first and never sends a request on a connection this side is closing.
  keepAliveTimeoutMs: 65_000,
};

/** node:http server options enforcing `limits`. */
export function serverOptions(limits: ConnectionLimits): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node checks both timeouts on this interval (30 s by default, which would let a header that
    // never finishes hold its connection for up to 35 s instead of 5).
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
  };
}

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

/** Logs connections closed over the cap: the first at once, then a count at most once a minute. */
function logDroppedConnections(server: Server, maxConnections: number, log: Logger): void {
  let dropped = 0;
  let window: NodeJS.Timeout | undefined;
  const report = () => {
    log.warn(
      { event: "connections_dropped", dropped, maxConnections },
      "closed new connections: the server holds its maximum",
    );
    dropped = 0;
  };
  server.on("drop", () => {
    dropped += 1;
    if (window !== undefined) return;
    report();
    window = setTimeout(() => {
      window = undefined;
      if (dropped > 0) report();
    }, 60_000);
    window.unref();
  });
}

function exposureLog(target: string, key: Uint8Array | undefined, log: Logger): ExposureLog {
  if (key !== undefined) return new ExposureLog(target, key);
  log.warn(
    { event: "exposure_key_random" },
    "exposure log user hashes use a random key of this process: they join within this process only; give every sidecar the same --exposure-key-file for hashes that join across pods and restarts",
  );
  return new ExposureLog(target, randomExposureKey());
}

function sourceLabel(source: SourceOptions): string {
  return source.kind === "file" ? "file" : "configmap";
}

export async function startSidecar(options: SidecarOptions): Promise<Sidecar> {
  const log =
    options.logger ?? pino({ base: { component: "sidecar" }, timestamp: pino.stdTimeFunctions.isoTime });
  const store = new DocumentStore();
  const metrics = new SidecarMetrics(store, sourceLabel(options.source), {
    defaultMetrics: options.defaultMetrics ?? true,
  });
  const exposure = options.exposureLog
    ? exposureLog(options.exposureLog, options.exposureKey, log)
    : undefined;
  const experiments = new ExperimentCounters(metrics.registry, options.exposures);
  if (options.eventStore !== undefined && options.exposureKey === undefined)
    throw new Error(
      "an event store needs the exposure key (--exposure-key-file) shared by every sidecar: with a key per process a user would count once per pod",
    );
  const experimentEvents =
    options.eventStore !== undefined && options.exposureKey !== undefined
      ? // Loaded only with an event store: it needs the crypto module, which a sidecar otherwise never loads.
        new (await import("./experiment-events.js")).ExperimentEvents({
          writer: options.eventStore.writer,
          key: options.exposureKey,
          registry: metrics.registry,
          maxPending: options.eventStore.maxPending,
          flushIntervalMs: options.eventStore.flushIntervalMs,
          maxUsers: options.exposures?.maxUsers,
          onWriteError: (error, held) =>
            log.warn(
              { reason: "EventStoreWriteFailed", err: error.message, held },
              "cannot write experiment events; keeping them and retrying",
            ),
        })
      : undefined;
  const events =
    options.eventStreams === false ? undefined : new EventStreamHub(store, options.eventStreams ?? {});
  if (events) metrics.observeEventStreams(events);
  const stopObservingRuleBudget = metrics.observeRuleBudget(log);
  const overBudgetLane = new OverBudgetLane(options.overBudgetWaitingPerFlag ?? DEFAULT_OVER_BUDGET_WAITING);
  metrics.observeOverBudgetLane(overBudgetLane);
  let closing = false;

  let markReady: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  store.listen({
    loaded(doc, previous) {
      markReady();
      log.info(
        {
          event: "document_loaded",
          revision: doc.document.revision,
          previousRevision: previous?.document.revision,
          namespace: doc.document.namespace,
          flags: doc.compiled.flags.size,
          origin: doc.origin,
        },
        "flag document loaded",
      );
    },
    revisionMismatch(doc, declaredRevision) {
      log.warn(
        {
          event: "document_revision_mismatch",
          declaredRevision,
          revision: doc.document.revision,
          namespace: doc.document.namespace,
          origin: doc.origin,
        },
        "the document's revision does not match its content; serving it under the revision of its content",
      );
    },
    failed(kind, origin, error) {
      log.error(
        {
          event: "document_rejected",
          kind,
          origin,
          error: error.message,
          servingRevision: store.current?.document.revision,
        },
        "new flag document rejected; still serving the last good one",
      );
    },
  });

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
  const connectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...options.connectionLimits };
  const server = createServer(serverOptions(connectionLimits), handler);
  server.maxConnections = connectionLimits.maxConnections;
  logDroppedConnections(server, connectionLimits.maxConnections, log);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? DEFAULT_PORT, options.host ?? DEFAULT_HOST, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  log.info({ event: "listening", url, source: options.source.kind }, "sidecar listening");

  const onText = (text: string, origin: string) => store.offer(text, origin);
  const onError = (error: Error, origin: string) => store.fail("read", origin, error);
  const src = options.source;
  const source =
    src.kind === "file"
      ? new FileSource({ path: src.path, key: src.key, pollIntervalMs: src.pollIntervalMs, onText, onError })
      : // Loaded only in API-watch mode: the Kubernetes client is most of a sidecar's memory.
        new (await import("../source/configmap-source.js")).ConfigMapSource({
          kubeConfig: src.kubeConfig ?? (await loadKubeConfig()),
          namespace: src.namespace,
          name: src.name,
          key: src.key,
          onText,
          onError,
          onEvent: (event, origin) => log.info({ event: `configmap_${event}`, origin }, `configmap ${event}`),
        });
  try {
    await source.start();
  } catch (error) {
    server.close();
    stopObservingRuleBudget();
    await options.eventStore?.writer.close();
    throw error;
  }

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      closing = true;
      log.info({ event: "shutting_down" }, "sidecar shutting down");
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      // Event streams never go idle: end them so server.close() can finish.
      events?.closeAll();
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), options.shutdownTimeoutMs ?? 10_000);
      timer.unref();
      await done;
      clearTimeout(timer);
      await source.stop();
      await exposure?.close();
      if (experimentEvents !== undefined) {
        const { written, lost } = await experimentEvents.close(options.shutdownTimeoutMs ?? 10_000);
        if (lost > 0)
          log.error(
            { reason: "EventStoreUnavailable", written, lost },
            "experiment events not written before shutdown: the event store did not take them",
          );
        else log.info({ reason: "EventsFlushed", written }, "experiment events written");
      }
      stopObservingRuleBudget();
      log.info({ event: "stopped" }, "sidecar stopped");
    })();
    return closed;
  };

  return { url, address, store, metrics, server, events, ready: () => readyPromise, close };
}
