// Who may call the sidecar: CORS for allowed browser origins (preflights answered here) and the
// bearer token a shared evaluator asks for on OFREP and /track (bearer-auth.ts checks it).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RouteContext } from "./context.js";
import { JSON_HEADERS, send } from "./respond.js";

/** The allowed origins, resolved once; undefined when CORS is off. */
export interface CorsPolicy {
  readonly origins: ReadonlySet<string>;
  readonly anyOrigin: boolean;
}

export function corsPolicy(origins: readonly string[] | undefined): CorsPolicy | undefined {
  if (origins === undefined || origins.length === 0) return undefined;
  const set = new Set(origins);
  return { origins: set, anyOrigin: set.has("*") };
}

const PREFLIGHT_HEADERS: string[] = [
  "access-control-allow-methods",
  "GET, POST",
  "access-control-allow-headers",
  "content-type, if-none-match, authorization, x-api-key, last-event-id",
  "access-control-max-age",
  "600",
  "content-length",
  "0",
];

/** Adds CORS headers for an allowed Origin; true when the request was a preflight, now answered. */
export function corsHandled(
  cors: CorsPolicy,
  req: IncomingMessage,
  res: ServerResponse,
  origin: string,
): boolean {
  if (!cors.anyOrigin && !cors.origins.has(origin)) return false;
  res.setHeader("access-control-allow-origin", cors.anyOrigin ? "*" : origin);
  if (!cors.anyOrigin) res.setHeader("vary", "origin");
  // The bulk ETag must be readable by the page to send If-None-Match.
  res.setHeader("access-control-expose-headers", "etag");
  if (req.method !== "OPTIONS") return false;
  res.writeHead(204, PREFLIGHT_HEADERS);
  res.end();
  return true;
}

/** Whether the request is refused for want of the bearer token (and now answered 401). */
export function unauthorized(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): boolean {
  const authorize = ctx.authorize;
  if (authorize === undefined || !(path.startsWith("/ofrep/") || path === "/track")) return false;
  if (authorize(req.headers.authorization)) return false;
  send(
    ctx,
    res,
    401,
    JSON.stringify({ errorDetails: "a bearer token is required: Authorization: Bearer <token>" }),
    [...JSON_HEADERS, "www-authenticate", 'Bearer realm="flagwright"'],
  );
  return true;
}
