// Request bodies of the sidecar's routes: read within a byte limit, and the evaluation context
// they carry, checked against the context limits.
import type { IncomingMessage } from "node:http";
import { type ContextLimits, contextLimitViolation } from "../context-limits.js";
import { HttpError } from "./respond.js";

/**
 * Reads the request body as UTF-8 and calls `done` with it, or `failed` with HttpError(413) past
 * `limit` bytes (at once when Content-Length declares more) or with the stream's error. Callbacks
 * rather than a Promise: the single-flag route is the hot path, and this saves it a promise and a
 * microtask per request.
 */
export function readBody(
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

export function readBodyAsync(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => readBody(req, limit, resolve, reject));
}

/**
 * The evaluation context of an OFREP request body; throws HttpError(400) for a malformed one or
 * one beyond `limits`.
 */
export function contextOf(body: string, limits: ContextLimits): Record<string, unknown> {
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

/** The context itself; throws HttpError(400) when it is beyond `limits`. */
export function withinLimits(
  context: Record<string, unknown>,
  limits: ContextLimits,
): Record<string, unknown> {
  const violation = contextLimitViolation(context, limits);
  if (violation !== undefined) throw new HttpError(400, "INVALID_CONTEXT", violation);
  return context;
}
