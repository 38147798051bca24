// The sidecar's open routes: /healthz, /readyz (503 until the first good document), /metrics and
// OFREP's optional GET /ofrep/v1/configuration.
import type { ServerResponse } from "node:http";
import type { RouteContext } from "./context.js";
import { send } from "./respond.js";

export const OFREP_CONFIGURATION = "/ofrep/v1/configuration";

const CONFIGURATION = JSON.stringify({
  name: "flagwright",
  capabilities: {
    cacheInvalidation: { polling: { enabled: true, minPollingIntervalMs: 1000 } },
    flagEvaluation: { supportedTypes: ["boolean", "string", "int", "float", "object"] },
  },
});

export function healthz(ctx: RouteContext, res: ServerResponse): void {
  send(ctx, res, 200, '{"status":"ok"}');
}

export function readyz(ctx: RouteContext, res: ServerResponse): void {
  const c = ctx.store.current;
  if (c === undefined) send(ctx, res, 503, '{"status":"waiting for the first flag document"}');
  else send(ctx, res, 200, JSON.stringify({ status: "ok", revision: c.document.revision }));
}

export function metrics(ctx: RouteContext, res: ServerResponse): void {
  const registry = ctx.metrics.registry;
  registry.metrics().then(
    (text) => send(ctx, res, 200, text, ["content-type", registry.contentType]),
    (error: Error) => send(ctx, res, 500, JSON.stringify({ errorDetails: error.message })),
  );
}

export function configuration(ctx: RouteContext, res: ServerResponse): void {
  send(ctx, res, 200, CONFIGURATION);
}
