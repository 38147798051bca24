// `flagwright sidecar`: serves OFREP next to an application from the namespace's flag document.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { KubeConfig } from "@kubernetes/client-node";
import { type Logger, pino } from "pino";
import { loadKubeConfig } from "../kube/kubeconfig.js";
import { EventStreamHub, type EventStreamOptions } from "./event-stream.js";
import { ExperimentCounters, type ExposureMode } from "./experiment-counters.js";
import { ExposureLog } from "./exposure.js";
import { FileSource } from "./file-source.js";
import { createHandler } from "./http.js";
import { SidecarMetrics } from "./metrics.js";
import { DocumentStore } from "./store.js";

export { EventStreamHub, type EventStreamOptions, OFREP_EVENTS } from "./event-stream.js";
export { ExperimentCounters, type ExposureMode } from "./experiment-counters.js";
export { FileSource } from "./file-source.js";
export { etagMatches } from "./http.js";
export { SidecarMetrics } from "./metrics.js";
export { DocumentStore, type LoadedDocument } from "./store.js";

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 8016;

export type SourceOptions =
  | { kind: "file"; path: string; key?: string; pollIntervalMs?: number }
  | { kind: "configmap"; namespace: string; name: string; key?: string; kubeConfig?: KubeConfig };

export interface SidecarOptions {
  source: SourceOptions;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  maxBodyBytes?: number;
  /** Path for exposure JSON lines, or "-" for stdout; off when unset. */
  exposureLog?: string;
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
  const exposure = options.exposureLog ? new ExposureLog(options.exposureLog) : undefined;
  const experiments = new ExperimentCounters(metrics.registry, options.exposures);
  const events =
    options.eventStreams === false ? undefined : new EventStreamHub(store, options.eventStreams ?? {});
  if (events) metrics.observeEventStreams(events);
  const stopObservingRuleBudget = metrics.observeRuleBudget(log);
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
    events,
    publicUrl: options.publicUrl,
    corsOrigins: options.corsOrigins,
    authorize:
      options.authToken === undefined
        ? undefined
        : (await import("./bearer-auth.js")).bearerTokenCheck(options.authToken),
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
    isClosing: () => closing,
  });
  const server = createServer({ keepAliveTimeout: 65_000 }, handler);
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
        new (await import("./configmap-source.js")).ConfigMapSource({
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
      stopObservingRuleBudget();
      log.info({ event: "stopped" }, "sidecar stopped");
    })();
    return closed;
  };

  return { url, address, store, metrics, server, events, ready: () => readyPromise, close };
}
