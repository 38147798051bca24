// How the sidecar's routes answer: complete JSON bodies with an explicit length, errors in OFREP's
// shape, and `connection: close` while the process shuts down.
import type { ServerResponse } from "node:http";
import type { RouteContext } from "./context.js";

// Headers as flat [name, value, ...] lists: writeHead() serializes them directly, skipping the
// per-response header object that setHeader() would build.
export const JSON_HEADERS: readonly string[] = ["content-type", "application/json; charset=utf-8"];

/** A request the sidecar refuses, with its HTTP status and OFREP error code. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

export function send(
  ctx: RouteContext,
  res: ServerResponse,
  status: number,
  body: string,
  headers: readonly string[] = JSON_HEADERS,
): void {
  // An explicit length avoids chunked encoding for these small, complete bodies.
  const list = [...headers, "content-length", String(Buffer.byteLength(body))];
  if (ctx.isClosing()) list.push("connection", "close");
  res.writeHead(status, list);
  res.end(body);
}

export function sendError(
  ctx: RouteContext,
  res: ServerResponse,
  error: unknown,
  key: string | undefined,
): void {
  if (error instanceof HttpError) {
    if (error.status === 413) {
      // Stop reading the rest of an oversized upload.
      res.setHeader("connection", "close");
      send(ctx, res, 413, JSON.stringify({ errorDetails: error.message }));
    } else {
      send(
        ctx,
        res,
        error.status,
        JSON.stringify({ key, errorCode: error.errorCode, errorDetails: error.message }),
      );
    }
    return;
  }
  send(ctx, res, 500, JSON.stringify({ errorDetails: (error as Error).message }));
}

/** 503 before the first document: the client retries in a second. */
export function notReady(ctx: RouteContext, res: ServerResponse, key: string | undefined): void {
  res.setHeader("retry-after", "1");
  send(
    ctx,
    res,
    503,
    JSON.stringify({ key, errorCode: "GENERAL", errorDetails: "no flag document loaded yet" }),
  );
}

export function methodNotAllowed(ctx: RouteContext, res: ServerResponse, allow: string): void {
  send(ctx, res, 405, JSON.stringify({ errorDetails: `use ${allow}` }), [...JSON_HEADERS, "allow", allow]);
}
