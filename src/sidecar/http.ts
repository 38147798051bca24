// The sidecar's HTTP surface on plain node:http: one small dispatcher over the route modules in
// ./routes (no framework: the routes are few, and every microsecond of routing shows up in
// requests per second). What the routes read is resolved once here, not per request.
//
// OFREP (OpenFeature Remote Evaluation Protocol, open-feature/protocol service/openapi.yaml):
//   POST /ofrep/v1/evaluate/flags/{key}  -> 200 evaluationSuccess | 400/404 evaluationFailure | 500 GENERAL
//   POST /ofrep/v1/evaluate/flags        -> 200 {flags:[...]} with ETag | 304 | 400 bulkEvaluationFailure
//   GET  /ofrep/v1/configuration         -> capabilities (optional extension)
//   GET  /ofrep/v1/events                -> SSE refetchEvaluation events (ADR 0008, event-stream.ts)
// plus /healthz, /readyz, /metrics and POST /track (experiment conversions).
import type { IncomingMessage, ServerResponse } from "node:http";
import { DEFAULT_CONTEXT_LIMITS } from "./context-limits.js";
import { OFREP_EVENTS } from "./event-stream.js";
import { type CorsPolicy, corsHandled, corsPolicy, unauthorized } from "./routes/auth.js";
import type { HandlerOptions, RouteContext } from "./routes/context.js";
import { bulk, OFREP_BULK } from "./routes/ofrep-bulk.js";
import { OFREP_SINGLE_PREFIX, single } from "./routes/ofrep-single.js";
import { configuration, healthz, metrics, OFREP_CONFIGURATION, readyz } from "./routes/probes.js";
import { methodNotAllowed, send } from "./routes/respond.js";
import { TRACK, track } from "./routes/track.js";

export type { HandlerOptions } from "./routes/context.js";
export { etagMatches, OFREP_BULK } from "./routes/ofrep-bulk.js";
export { OFREP_SINGLE_PREFIX } from "./routes/ofrep-single.js";

export function createHandler(opts: HandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const ctx: RouteContext = { ...opts, contextLimits: opts.contextLimits ?? DEFAULT_CONTEXT_LIMITS };
  const cors = corsPolicy(opts.corsOrigins);
  return (req, res) => dispatch(ctx, cors, req, res);
}

function dispatch(
  ctx: RouteContext,
  cors: CorsPolicy | undefined,
  req: IncomingMessage,
  res: ServerResponse,
) {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const path = q === -1 ? url : url.slice(0, q);
  const method = req.method;
  if (cors !== undefined) {
    const origin = req.headers.origin;
    if (origin !== undefined && corsHandled(cors, req, res, origin)) return;
  }
  if (unauthorized(ctx, req, res, path)) return;
  if (path.startsWith(OFREP_SINGLE_PREFIX) && path.length > OFREP_SINGLE_PREFIX.length) {
    if (method !== "POST") return methodNotAllowed(ctx, res, "POST");
    return single(ctx, req, res, path.slice(OFREP_SINGLE_PREFIX.length));
  }
  if (path === OFREP_BULK) {
    if (method !== "POST") return methodNotAllowed(ctx, res, "POST");
    void bulk(ctx, req, res, q === -1 ? "" : url.slice(q + 1));
    return;
  }
  const experiments = ctx.experiments;
  if (path === TRACK && experiments !== undefined) {
    if (method !== "POST") return methodNotAllowed(ctx, res, "POST");
    void track(ctx, req, res, experiments);
    return;
  }
  if (method !== "GET" && method !== "HEAD") return methodNotAllowed(ctx, res, "GET");
  if (path === OFREP_EVENTS && ctx.events !== undefined) return ctx.events.connect(req, res, ctx.isClosing());
  switch (path) {
    case "/healthz":
      return healthz(ctx, res);
    case "/readyz":
      return readyz(ctx, res);
    case "/metrics":
      return metrics(ctx, res);
    case OFREP_CONFIGURATION:
      return configuration(ctx, res);
    default:
      return send(ctx, res, 404, JSON.stringify({ errorDetails: `no route for ${path}` }));
  }
}
