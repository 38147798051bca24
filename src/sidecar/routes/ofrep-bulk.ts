// POST /ofrep/v1/evaluate/flags: every flag for one context, with an ETag over exactly what the
// answers depend on (304 on If-None-Match), and the event stream advertised in `eventStreams`.
import type { IncomingMessage, ServerResponse } from "node:http";
import { canonicalJson } from "../../core/document.js";
import { evaluate } from "../../core/evaluate.js";
import { sha256Hex } from "../../core/sha256.js";
import type { LoadedDocument } from "../../source/store.js";
import { configEtag, OFREP_EVENTS } from "../event-stream.js";
import { contextOf, readBodyAsync } from "./body.js";
import type { RouteContext } from "./context.js";
import { fragment } from "./ofrep-answer.js";
import { HttpError, JSON_HEADERS, notReady, send, sendError } from "./respond.js";

export const OFREP_BULK = "/ofrep/v1/evaluate/flags";

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

/**
 * Without rules results depend on the document and the targeting key only, with rules on the
 * whole context, so the tag covers exactly those; rules that read `now` get no tag at all.
 */
function bulkEtag(
  loaded: LoadedDocument,
  context: Record<string, unknown>,
  user: unknown,
): string | undefined {
  const dependsOn = loaded.compiled.dependsOn;
  if (dependsOn === "time") return undefined;
  const revision = loaded.document.revision;
  if (dependsOn === "context") return `"${revision}-${sha256Hex(canonicalJson(context)).slice(0, 16)}"`;
  return `"${revision}-${typeof user === "string" && user !== "" ? sha256Hex(user).slice(0, 16) : "anonymous"}"`;
}

// `eventStreams` must hold an absolute URI (openapi.yaml eventStream.url, format uri).
function streamsSuffixFor(ctx: RouteContext, req: IncomingMessage): string {
  if (ctx.events === undefined) return "";
  const base =
    ctx.publicUrl ?? `http://${req.headers.host ?? `${req.socket.localAddress}:${req.socket.localPort}`}`;
  return `,"eventStreams":${JSON.stringify([{ type: "sse", url: `${base.replace(/\/$/, "")}${OFREP_EVENTS}` }])}`;
}

export async function bulk(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  query: string,
): Promise<void> {
  const started = performance.now();
  try {
    const context = contextOf(await readBodyAsync(req, ctx.maxBodyBytes), ctx.contextLimits);
    const loaded = ctx.store.current;
    if (loaded === undefined) return notReady(ctx, res, undefined);
    const user = context.targetingKey;
    if (user !== undefined && user !== null && typeof user !== "string") {
      throw new HttpError(400, "INVALID_CONTEXT", "targetingKey must be a string");
    }
    const etag = bulkEtag(loaded, context, user);
    // ADR 0008: flagConfigEtag / flagConfigLastModified are metadata from an event, not
    // validators. One naming a configuration other than the one served here (a lagging replica
    // behind a Service) rules out 304: the client knows its cached answer is outdated.
    const announced = query === "" ? null : new URLSearchParams(query).get("flagConfigEtag");
    const stale = announced !== null && announced !== configEtag(loaded);
    if (etag !== undefined && !stale && etagMatches(req.headers["if-none-match"], etag)) {
      if (ctx.isClosing()) res.setHeader("connection", "close");
      res.writeHead(304, { etag });
      res.end();
      return;
    }
    let body = '{"flags":[';
    let first = true;
    for (const key of loaded.compiled.flags.keys()) {
      const result = evaluate(loaded.compiled, key, context);
      ctx.metrics.count(key, result);
      body += first ? fragment(key, result) : `,${fragment(key, result)}`;
      first = false;
    }
    send(
      ctx,
      res,
      200,
      `${body}]${streamsSuffixFor(ctx, req)}}`,
      etag === undefined ? JSON_HEADERS : [...JSON_HEADERS, "etag", etag],
    );
    ctx.metrics.answered("bulk", started);
  } catch (error) {
    if (error instanceof HttpError && error.status === 400) {
      send(ctx, res, 400, JSON.stringify({ errorCode: error.errorCode, errorDetails: error.message }));
    } else {
      sendError(ctx, res, error, undefined);
    }
  }
}
