// The sidecar's HTTP surface on plain node:http (no framework: the OFREP routes are few, and every
// microsecond of routing shows up in requests per second).
//
// OFREP (OpenFeature Remote Evaluation Protocol, open-feature/protocol service/openapi.yaml):
//   POST /ofrep/v1/evaluate/flags/{key}  -> 200 evaluationSuccess | 400/404 evaluationFailure | 500 GENERAL
//   POST /ofrep/v1/evaluate/flags        -> 200 {flags:[...]} with ETag | 304 | 400 bulkEvaluationFailure
//   GET  /ofrep/v1/configuration         -> capabilities (optional extension)
//   GET  /ofrep/v1/events                -> SSE refetchEvaluation events (ADR 0008, event-stream.ts)
// plus /healthz, /readyz, /metrics and POST /track (experiment conversions, experiment-counters.ts).
import type { IncomingMessage, ServerResponse } from "node:http";
import { canonicalJson } from "../core/document.js";
import { type EvaluationDetails, evaluate, overRuleBudget, servedBySplit } from "../core/evaluate.js";
import { sha256Hex } from "../core/sha256.js";
import type { DocumentStore } from "../source/store.js";
import { type ExperimentCounters, parseTrackRequest } from "../telemetry/experiment-counters.js";
import { type ContextLimits, contextLimitViolation, DEFAULT_CONTEXT_LIMITS } from "./context-limits.js";
import { configEtag, type EventStreamHub, OFREP_EVENTS } from "./event-stream.js";
import type { ExperimentEvents } from "./experiment-events.js";
import type { ExposureLog } from "./exposure.js";
import type { SidecarMetrics } from "./metrics.js";
import type { OverBudgetLane } from "./over-budget-lane.js";

export const OFREP_SINGLE_PREFIX = "/ofrep/v1/evaluate/flags/";
export const OFREP_BULK = "/ofrep/v1/evaluate/flags";
// Headers as flat [name, value, ...] lists: writeHead() serializes them directly, skipping the
// per-response header object that setHeader() would build.
const JSON_HEADERS: readonly string[] = ["content-type", "application/json; charset=utf-8"];

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

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

// Serialized OFREP fragments per shared result object: a hot flag's answer is stringified once per
// document, not once per request.
const fragments = new WeakMap<EvaluationDetails, string>();

function fragment(key: string, r: EvaluationDetails): string {
  let s = fragments.get(r);
  if (s === undefined) {
    s = JSON.stringify(
      r.errorCode !== undefined
        ? { key, errorCode: r.errorCode, errorDetails: r.errorMessage }
        : // Every success has a value: an off variant flag without defaultValue is an error instead.
          { key, value: r.value, reason: r.reason, variant: r.variant, metadata: r.flagMetadata },
    );
    if (r.errorCode !== "FLAG_NOT_FOUND") fragments.set(r, s);
  }
  return s;
}

interface Answer {
  readonly status: number;
  readonly body: string;
  /** Content type and length, ready for writeHead(). */
  readonly headers: string[];
}

// Complete single-flag answers per shared result object, so the hot path allocates no response parts.
const answers = new WeakMap<EvaluationDetails, Answer>();

function answerOf(key: string, r: EvaluationDetails): Answer {
  let a = answers.get(r);
  if (a === undefined) {
    const body = fragment(key, r);
    a = {
      status: statusOf(r),
      body,
      headers: [...JSON_HEADERS, "content-length", String(Buffer.byteLength(body))],
    };
    if (r.errorCode !== "FLAG_NOT_FOUND") answers.set(r, a);
  }
  return a;
}

function statusOf(r: EvaluationDetails): number {
  switch (r.errorCode) {
    case undefined:
      return 200;
    case "FLAG_NOT_FOUND":
      return 404;
    case "TARGETING_KEY_MISSING":
    case "INVALID_CONTEXT":
      return 400;
    default:
      // GENERAL: the flag cannot be answered as configured (no defaultValue to serve, prerequisites
      // too deep). Not the request's fault, so not 400; every OFREP provider reports a 500 as GENERAL.
      return 500;
  }
}

/**
 * Reads the request body as UTF-8 and calls `done` with it, or `failed` with HttpError(413) past
 * `limit` bytes (at once when Content-Length declares more) or with the stream's error. Callbacks
 * rather than a Promise: the single-flag route is the hot path, and this saves it a promise and a
 * microtask per request.
 */
function readBody(
  req: IncomingMessage,
  limit: number,
  done: (body: string) => void,
  failed: (error: Error) => void,
): void {
  const declared = Number(req.headers["content-length"]);
  if (declared > limit) {
    failed(new HttpError(413, "GENERAL", `request body exceeds ${limit} bytes`));
    return;
  }
  // A small body arrives in one chunk; an array is only made for a second one.
  let first: Buffer | undefined;
  let more: Buffer[] | undefined;
  let size = 0;
  let settled = false;
  req.on("data", (chunk: Buffer) => {
    if (settled) return;
    size += chunk.length;
    if (size > limit) {
      settled = true;
      failed(new HttpError(413, "GENERAL", `request body exceeds ${limit} bytes`));
      return;
    }
    if (first === undefined) first = chunk;
    else if (more === undefined) more = [first, chunk];
    else more.push(chunk);
  });
  req.on("end", () => {
    if (settled) return;
    settled = true;
    done(more !== undefined ? Buffer.concat(more).toString("utf8") : (first?.toString("utf8") ?? ""));
  });
  req.on("error", (error) => {
    if (settled) return;
    settled = true;
    failed(error);
  });
}

function readBodyAsync(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => readBody(req, limit, resolve, reject));
}

/**
 * The evaluation context of an OFREP request body; throws HttpError(400) for a malformed one or
 * one beyond `limits`.
 */
function contextOf(body: string, limits: ContextLimits): Record<string, unknown> {
  if (body === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    if (body.trim() === "") return {};
    throw new HttpError(400, "INVALID_CONTEXT", "request body is not valid JSON");
  }
  // OFREP's request schemas (evaluationRequest, bulkEvaluationRequest) declare `context` but no
  // `type: object`, so any JSON value is a valid request: one that is not an object has no context.
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return {};
  const context = (parsed as { context?: unknown }).context;
  if (context === undefined || context === null) return {};
  if (typeof context !== "object" || Array.isArray(context)) {
    throw new HttpError(400, "INVALID_CONTEXT", "context must be a JSON object");
  }
  return withinLimits(context as Record<string, unknown>, limits);
}

function withinLimits(context: Record<string, unknown>, limits: ContextLimits): Record<string, unknown> {
  const violation = contextLimitViolation(context, limits);
  if (violation !== undefined) throw new HttpError(400, "INVALID_CONTEXT", violation);
  return context;
}

/** Whether an If-None-Match header matches the entity tag (weak comparison, lists and `*`). */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const strip = (t: string) => (t.startsWith("W/") ? t.slice(2) : t);
  const want = strip(etag);
  for (const candidate of header.split(",")) {
    const t = candidate.trim();
    if (t === "*" || strip(t) === want) return true;
  }
  return false;
}

export function createHandler(opts: HandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { store, metrics, exposure, experiments, experimentEvents, events, maxBodyBytes } = opts;
  const contextLimits = opts.contextLimits ?? DEFAULT_CONTEXT_LIMITS;
  const lane = opts.overBudgetLane;

  // `eventStreams` must hold an absolute URI (openapi.yaml eventStream.url, format uri).
  const streamsSuffixFor = (req: IncomingMessage): string => {
    if (events === undefined) return "";
    const base =
      opts.publicUrl ?? `http://${req.headers.host ?? `${req.socket.localAddress}:${req.socket.localPort}`}`;
    return `,"eventStreams":${JSON.stringify([{ type: "sse", url: `${base.replace(/\/$/, "")}${OFREP_EVENTS}` }])}`;
  };

  function send(
    res: ServerResponse,
    status: number,
    body: string,
    headers: readonly string[] = JSON_HEADERS,
  ) {
    // An explicit length avoids chunked encoding for these small, complete bodies.
    const list = [...headers, "content-length", String(Buffer.byteLength(body))];
    if (opts.isClosing()) list.push("connection", "close");
    res.writeHead(status, list);
    res.end(body);
  }

  function sendError(res: ServerResponse, error: unknown, key: string | undefined) {
    if (error instanceof HttpError) {
      if (error.status === 413) {
        // Stop reading the rest of an oversized upload.
        res.setHeader("connection", "close");
        send(res, 413, JSON.stringify({ errorDetails: error.message }));
      } else {
        send(
          res,
          error.status,
          JSON.stringify({ key, errorCode: error.errorCode, errorDetails: error.message }),
        );
      }
      return;
    }
    send(res, 500, JSON.stringify({ errorDetails: (error as Error).message }));
  }

  function notReady(res: ServerResponse, key: string | undefined) {
    res.setHeader("retry-after", "1");
    send(
      res,
      503,
      JSON.stringify({ key, errorCode: "GENERAL", errorDetails: "no flag document loaded yet" }),
    );
  }

  function single(req: IncomingMessage, res: ServerResponse, rawKey: string) {
    const started = performance.now();
    let key = rawKey;
    if (rawKey.includes("%")) {
      try {
        key = decodeURIComponent(rawKey);
      } catch {
        sendError(res, new HttpError(400, "GENERAL", "flag key is not valid percent-encoding"), rawKey);
        return;
      }
    }
    const loaded = store.current;
    if (lane !== undefined && loaded !== undefined && overRuleBudget(loaded.compiled, key)) {
      overBudget(req, res, key, started, lane);
      return;
    }
    readBody(
      req,
      maxBodyBytes,
      (body) => answerSingle(res, key, body, started),
      (error) => sendError(res, error, key),
    );
  }

  /** A single-flag request for a flag over its rule budget: waits in the lane, or is refused at once. */
  function overBudget(
    req: IncomingMessage,
    res: ServerResponse,
    key: string,
    started: number,
    lane: OverBudgetLane,
  ) {
    if (!lane.admit(key)) {
      // Refused before the body is read or parsed; node:http discards the unread body.
      res.setHeader("retry-after", "1");
      send(
        res,
        429,
        JSON.stringify({
          key,
          errorCode: "GENERAL",
          errorDetails: `flag "${key}" recently ran out of its rule evaluation budget and already has ${lane.maxWaitingPerFlag} evaluations waiting; retry later`,
        }),
      );
      return;
    }
    readBody(
      req,
      maxBodyBytes,
      (body) =>
        lane.enqueue(key, () => {
          // A client that gave up waiting costs nothing more.
          if (!res.destroyed) answerSingle(res, key, body, started);
        }),
      (error) => {
        lane.release(key);
        sendError(res, error, key);
      },
    );
  }

  function answerSingle(res: ServerResponse, key: string, body: string, started: number) {
    try {
      const context = contextOf(body, contextLimits);
      const loaded = store.current;
      if (loaded === undefined) return notReady(res, key);
      const result = evaluate(loaded.compiled, key, context);
      metrics.count(key, result);
      const user = context.targetingKey;
      if (typeof user === "string") {
        exposure?.record(key, user, result, loaded.document.revision);
        experiments?.exposure(loaded.document, key, user, result);
        experimentEvents?.exposure(loaded.document, key, user, result);
      }
      const answer = answerOf(key, result);
      if (opts.isClosing()) send(res, answer.status, answer.body);
      else {
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
      }
      metrics.answered("single", started);
    } catch (error) {
      sendError(res, error, key);
    }
  }

  async function bulk(req: IncomingMessage, res: ServerResponse, query: string) {
    const started = performance.now();
    try {
      const context = contextOf(await readBodyAsync(req, maxBodyBytes), contextLimits);
      const loaded = store.current;
      if (loaded === undefined) return notReady(res, undefined);
      const user = context.targetingKey;
      if (user !== undefined && user !== null && typeof user !== "string") {
        throw new HttpError(400, "INVALID_CONTEXT", "targetingKey must be a string");
      }
      // Without rules results depend on the document and the targeting key only, with rules on the
      // whole context, so the tag covers exactly those; rules that read `now` get no tag at all.
      const dependsOn = loaded.compiled.dependsOn;
      const etag =
        dependsOn === "time"
          ? undefined
          : dependsOn === "context"
            ? `"${loaded.document.revision}-${sha256Hex(canonicalJson(context)).slice(0, 16)}"`
            : `"${loaded.document.revision}-${typeof user === "string" && user !== "" ? sha256Hex(user).slice(0, 16) : "anonymous"}"`;
      // ADR 0008: flagConfigEtag / flagConfigLastModified are metadata from an event, not
      // validators. One naming a configuration other than the one served here (a lagging replica
      // behind a Service) rules out 304: the client knows its cached answer is outdated.
      const announced = query === "" ? null : new URLSearchParams(query).get("flagConfigEtag");
      const stale = announced !== null && announced !== configEtag(loaded);
      if (etag !== undefined && !stale && etagMatches(req.headers["if-none-match"], etag)) {
        if (opts.isClosing()) res.setHeader("connection", "close");
        res.writeHead(304, { etag });
        res.end();
        return;
      }
      let body = '{"flags":[';
      let first = true;
      for (const key of loaded.compiled.flags.keys()) {
        const result = evaluate(loaded.compiled, key, context);
        metrics.count(key, result);
        body += first ? fragment(key, result) : `,${fragment(key, result)}`;
        first = false;
      }
      send(
        res,
        200,
        `${body}]${streamsSuffixFor(req)}}`,
        etag === undefined ? JSON_HEADERS : [...JSON_HEADERS, "etag", etag],
      );
      metrics.answered("bulk", started);
    } catch (error) {
      if (error instanceof HttpError && error.status === 400) {
        send(res, 400, JSON.stringify({ errorCode: error.errorCode, errorDetails: error.message }));
      } else {
        sendError(res, error, undefined);
      }
    }
  }

  // POST /track {flag, targetingKey, event, value?}: a conversion, attributed to the variant the
  // user is assigned right now (recomputed from the hash, never stored).
  async function track(req: IncomingMessage, res: ServerResponse, counters: ExperimentCounters) {
    try {
      const text = await readBodyAsync(req, maxBodyBytes);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new HttpError(400, "PARSE_ERROR", "request body is not valid JSON");
      }
      const t = parseTrackRequest(parsed);
      if (typeof t === "string") throw new HttpError(400, "INVALID_CONTEXT", t);
      if (t.context !== undefined) withinLimits(t.context, contextLimits);
      const loaded = store.current;
      if (loaded === undefined) return notReady(res, t.flag);
      // With the attributes the flag's rules read: a user a rule serves a fixed variant is not in the split.
      const result = evaluate(loaded.compiled, t.flag, { ...t.context, targetingKey: t.targetingKey });
      if (result.errorCode === "FLAG_NOT_FOUND")
        throw new HttpError(404, "FLAG_NOT_FOUND", `flag ${t.flag} not found`);
      if (result.errorCode !== undefined || result.variant === undefined || !servedBySplit(result)) {
        return send(
          res,
          200,
          JSON.stringify({
            flag: t.flag,
            event: t.event,
            counted: false,
            reason: "no variant for this user",
          }),
        );
      }
      // Stored before counted: a conversion the store cannot take now is refused whole (503), so
      // the application's retry neither loses it nor counts it twice in the process's counters.
      if (
        experimentEvents !== undefined &&
        !experimentEvents.conversion(
          loaded.document.namespace,
          t.flag,
          result.variant,
          t.targetingKey,
          t.event,
          t.value,
        )
      ) {
        res.setHeader("retry-after", "1");
        throw new HttpError(503, "GENERAL", "the event store is behind: too many unwritten events; retry");
      }
      const counted = counters.conversion(
        loaded.document.namespace,
        t.flag,
        result.variant,
        t.targetingKey,
        t.event,
        t.value,
      );
      send(res, 200, JSON.stringify({ flag: t.flag, variant: result.variant, event: t.event, counted }));
    } catch (error) {
      sendError(res, error, undefined);
    }
  }

  const configuration = JSON.stringify({
    name: "flagwright",
    capabilities: {
      cacheInvalidation: { polling: { enabled: true, minPollingIntervalMs: 1000 } },
      flagEvaluation: { supportedTypes: ["boolean", "string", "int", "float", "object"] },
    },
  });

  const cors = opts.corsOrigins && opts.corsOrigins.length > 0 ? new Set(opts.corsOrigins) : undefined;
  const anyOrigin = cors?.has("*") ?? false;

  /** Adds CORS headers for an allowed Origin; true when the request was a preflight, now answered. */
  function corsHandled(req: IncomingMessage, res: ServerResponse, origin: string): boolean {
    if (!anyOrigin && !cors?.has(origin)) return false;
    res.setHeader("access-control-allow-origin", anyOrigin ? "*" : origin);
    if (!anyOrigin) res.setHeader("vary", "origin");
    // The bulk ETag must be readable by the page to send If-None-Match.
    res.setHeader("access-control-expose-headers", "etag");
    if (req.method !== "OPTIONS") return false;
    res.writeHead(204, [
      "access-control-allow-methods",
      "GET, POST",
      "access-control-allow-headers",
      "content-type, if-none-match, authorization, x-api-key, last-event-id",
      "access-control-max-age",
      "600",
      "content-length",
      "0",
    ]);
    res.end();
    return true;
  }

  const unauthorized = (res: ServerResponse) =>
    send(
      res,
      401,
      JSON.stringify({ errorDetails: "a bearer token is required: Authorization: Bearer <token>" }),
      [...JSON_HEADERS, "www-authenticate", 'Bearer realm="flagwright"'],
    );

  return (req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method;
    if (cors !== undefined) {
      const origin = req.headers.origin;
      if (origin !== undefined && corsHandled(req, res, origin)) return;
    }
    if (
      opts.authorize &&
      (path.startsWith("/ofrep/") || path === "/track") &&
      !opts.authorize(req.headers.authorization)
    ) {
      return unauthorized(res);
    }
    if (path.startsWith(OFREP_SINGLE_PREFIX) && path.length > OFREP_SINGLE_PREFIX.length) {
      if (method !== "POST") return methodNotAllowed(res, "POST");
      single(req, res, path.slice(OFREP_SINGLE_PREFIX.length));
      return;
    }
    if (path === OFREP_BULK) {
      if (method !== "POST") return methodNotAllowed(res, "POST");
      void bulk(req, res, q === -1 ? "" : url.slice(q + 1));
      return;
    }
    if (path === "/track" && experiments !== undefined) {
      if (method !== "POST") return methodNotAllowed(res, "POST");
      void track(req, res, experiments);
      return;
    }
    if (method !== "GET" && method !== "HEAD") return methodNotAllowed(res, "GET");
    if (path === OFREP_EVENTS && events !== undefined) {
      events.connect(req, res, opts.isClosing());
      return;
    }
    switch (path) {
      case "/healthz":
        return send(res, 200, '{"status":"ok"}');
      case "/readyz": {
        const c = store.current;
        if (c === undefined) return send(res, 503, '{"status":"waiting for the first flag document"}');
        return send(res, 200, JSON.stringify({ status: "ok", revision: c.document.revision }));
      }
      case "/metrics":
        metrics.registry.metrics().then(
          (text) => send(res, 200, text, ["content-type", metrics.registry.contentType]),
          (error: Error) => send(res, 500, JSON.stringify({ errorDetails: error.message })),
        );
        return;
      case "/ofrep/v1/configuration":
        return send(res, 200, configuration);
      default:
        return send(res, 404, JSON.stringify({ errorDetails: `no route for ${path}` }));
    }
  };

  function methodNotAllowed(res: ServerResponse, allow: string) {
    send(res, 405, JSON.stringify({ errorDetails: `use ${allow}` }), [...JSON_HEADERS, "allow", allow]);
  }
}
