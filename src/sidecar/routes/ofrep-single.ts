// POST /ofrep/v1/evaluate/flags/{key}: one flag for one context, the sidecar's hot path. Answers
// are shared per evaluation result (ofrep-answer.ts); a flag whose rules recently ran out of
// budget waits its turn in the over-budget lane or is refused at once.
import type { IncomingMessage, ServerResponse } from "node:http";
import { evaluate, overRuleBudget } from "../../core/evaluate.js";
import type { OverBudgetLane } from "../over-budget-lane.js";
import { contextOf, readBody } from "./body.js";
import type { RouteContext } from "./context.js";
import { answerOf } from "./ofrep-answer.js";
import { HttpError, notReady, send, sendError } from "./respond.js";

export const OFREP_SINGLE_PREFIX = "/ofrep/v1/evaluate/flags/";

export function single(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, rawKey: string): void {
  const started = performance.now();
  let key = rawKey;
  if (rawKey.includes("%")) {
    try {
      key = decodeURIComponent(rawKey);
    } catch {
      sendError(ctx, res, new HttpError(400, "GENERAL", "flag key is not valid percent-encoding"), rawKey);
      return;
    }
  }
  const loaded = ctx.store.current;
  const lane = ctx.overBudgetLane;
  if (lane !== undefined && loaded !== undefined && overRuleBudget(loaded.compiled, key)) {
    overBudget(ctx, req, res, key, started, lane);
    return;
  }
  readBody(
    req,
    ctx.maxBodyBytes,
    (body) => answerSingle(ctx, res, key, body, started),
    (error) => sendError(ctx, res, error, key),
  );
}

/** A single-flag request for a flag over its rule budget: waits in the lane, or is refused at once. */
function overBudget(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  key: string,
  started: number,
  lane: OverBudgetLane,
): void {
  if (!lane.admit(key)) {
    // Refused before the body is read or parsed; node:http discards the unread body.
    res.setHeader("retry-after", "1");
    send(
      ctx,
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
    ctx.maxBodyBytes,
    (body) =>
      lane.enqueue(key, () => {
        // A client that gave up waiting costs nothing more.
        if (!res.destroyed) answerSingle(ctx, res, key, body, started);
      }),
    (error) => {
      lane.release(key);
      sendError(ctx, res, error, key);
    },
  );
}

function answerSingle(ctx: RouteContext, res: ServerResponse, key: string, body: string, started: number) {
  try {
    const context = contextOf(body, ctx.contextLimits);
    const loaded = ctx.store.current;
    if (loaded === undefined) return notReady(ctx, res, key);
    const result = evaluate(loaded.compiled, key, context);
    ctx.metrics.count(key, result);
    const user = context.targetingKey;
    if (typeof user === "string") {
      ctx.exposure?.record(key, user, result, loaded.document.revision);
      ctx.experiments?.exposure(loaded.document, key, user, result);
      ctx.experimentEvents?.exposure(loaded.document, key, user, result);
    }
    const answer = answerOf(key, result);
    if (ctx.isClosing()) send(ctx, res, answer.status, answer.body);
    else {
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    }
    ctx.metrics.answered("single", started);
  } catch (error) {
    sendError(ctx, res, error, key);
  }
}
