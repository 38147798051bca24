// POST /track {flag, targetingKey, event, value?, context?}: a conversion, attributed to the
// variant the user is assigned right now (core/attribution.ts), stored for the event store before
// it is counted.
import type { IncomingMessage, ServerResponse } from "node:http";
import { attributeConversion } from "../../core/attribution.js";
import type { LoadedDocument } from "../../source/store.js";
import {
  type ExperimentCounters,
  parseTrackRequest,
  type TrackRequest,
} from "../../telemetry/experiment-counters.js";
import { readBodyAsync, withinLimits } from "./body.js";
import type { RouteContext } from "./context.js";
import { HttpError, notReady, send, sendError } from "./respond.js";

export const TRACK = "/track";

export async function track(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  counters: ExperimentCounters,
): Promise<void> {
  try {
    const t = await trackRequestOf(ctx, req);
    const loaded = ctx.store.current;
    if (loaded === undefined) return notReady(ctx, res, t.flag);
    // With the attributes the flag's rules read: a user a rule serves a fixed variant is not in the split.
    const { flagFound, variant } = attributeConversion(loaded.compiled, t.flag, {
      ...t.context,
      targetingKey: t.targetingKey,
    });
    if (!flagFound) throw new HttpError(404, "FLAG_NOT_FOUND", `flag ${t.flag} not found`);
    if (variant === undefined) {
      const body = { flag: t.flag, event: t.event, counted: false, reason: "no variant for this user" };
      return send(ctx, res, 200, JSON.stringify(body));
    }
    const counted = recordConversion(ctx, res, counters, loaded, t, variant);
    send(ctx, res, 200, JSON.stringify({ flag: t.flag, variant, event: t.event, counted }));
  } catch (error) {
    sendError(ctx, res, error, undefined);
  }
}

async function trackRequestOf(ctx: RouteContext, req: IncomingMessage): Promise<TrackRequest> {
  const text = await readBodyAsync(req, ctx.maxBodyBytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HttpError(400, "PARSE_ERROR", "request body is not valid JSON");
  }
  const t = parseTrackRequest(parsed);
  if (typeof t === "string") throw new HttpError(400, "INVALID_CONTEXT", t);
  if (t.context !== undefined) withinLimits(t.context, ctx.contextLimits);
  return t;
}

/**
 * Stored before counted: a conversion the store cannot take now is refused whole (503), so the
 * application's retry neither loses it nor counts it twice in the process's counters.
 */
function recordConversion(
  ctx: RouteContext,
  res: ServerResponse,
  counters: ExperimentCounters,
  loaded: LoadedDocument,
  t: TrackRequest,
  variant: string,
): boolean {
  const namespace = loaded.document.namespace;
  const events = ctx.experimentEvents;
  if (
    events !== undefined &&
    !events.conversion(namespace, t.flag, variant, t.targetingKey, t.event, t.value)
  ) {
    res.setHeader("retry-after", "1");
    throw new HttpError(503, "GENERAL", "the event store is behind: too many unwritten events; retry");
  }
  return counters.conversion(namespace, t.flag, variant, t.targetingKey, t.event, t.value);
}
