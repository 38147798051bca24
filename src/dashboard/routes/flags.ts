// The dashboard's flag routes: who is signed in (/api/info), the Flags page's rows, one flag's
// detail (spec, timeline with the operator's Events, segments, experiment), the evaluate box and
// the Flag debt page. Reads come from the watch's cache by key; only the detail's Events and
// segments and the evaluate box's document are read from the API server.
import type { Express, Request, Response } from "express";
import { type FeatureFlag, flagKey } from "../../api/index.js";
import { CONTROL_COMMANDS } from "../../controls/transitions.js";
import { evaluate } from "../../core/index.js";
import { buildTimeline, debtView, experimentView, flagRow, sortRows } from "../views.js";
import { describeFailure, type RouteContext, routeFlag, sendError } from "./context.js";

export function registerFlagRoutes(app: Express, ctx: RouteContext): void {
  app.get("/api/info", (_req, res) => {
    res.json({
      user: ctx.user,
      context: ctx.kc.getCurrentContext(),
      namespaces: ctx.cluster.scopes.map((s) => s ?? "*"),
      refsGiven: ctx.refs !== undefined,
      prometheus: ctx.prometheusUrl !== undefined,
      controls: CONTROL_COMMANDS,
    });
  });
  app.get("/api/flags", (_req, res) => {
    const t = ctx.now();
    res.json({ rows: sortRows(ctx.cluster.flags().map((f) => flagRow(f, t))) });
  });
  app.get("/api/flags/:namespace/:name", (req, res) => flagDetail(ctx, req, res));
  app.post("/api/flags/:namespace/:name/evaluate", (req, res) => evaluateFlag(ctx, req, res));
  app.get("/api/debt", (_req, res) => {
    res.json(debtView(ctx.cluster.flags(), ctx.refs, ctx.now()));
  });
}

async function flagDetail(ctx: RouteContext, req: Request, res: Response): Promise<void> {
  const flag = routeFlag(ctx, req);
  if (!flag) {
    res.status(404).json({ error: { kind: "notfound", message: "no such flag (or not visible to you)" } });
    return;
  }
  const segments = await ruleSegments(ctx, flag);
  // The operator's Events are the rollout's history; without permission to list them the
  // timeline still shows what status holds, and says what is missing.
  let events: Awaited<ReturnType<RouteContext["cluster"]["events"]>> = [];
  let eventsError: string | undefined;
  try {
    events = await ctx.cluster.events(flag.metadata.namespace ?? "", flag.metadata.name ?? "");
  } catch (error) {
    eventsError = describeFailure(error);
  }
  res.json({
    row: flagRow(flag, ctx.now()),
    spec: flag.spec,
    timeline: buildTimeline(flag, events),
    ...(eventsError !== undefined && { eventsError }),
    experiment: experimentView(flag),
    segments,
  });
}

/** Segments the flag's rules name; a refusal to list them is shown, not fatal. */
async function ruleSegments(ctx: RouteContext, flag: FeatureFlag): Promise<unknown> {
  const names = new Set((flag.spec.rules ?? []).flatMap((r) => r.segments ?? []));
  if (names.size === 0) return [];
  try {
    return (await ctx.cluster.segments(flag.metadata.namespace ?? ""))
      .filter((s) => names.has(s.metadata.name ?? ""))
      .map((s) => ({ name: s.metadata.name, spec: s.spec }));
  } catch (error) {
    return { error: describeFailure(error) };
  }
}

/** The evaluate box: the flag against a context, in the namespace's projected document. */
async function evaluateFlag(ctx: RouteContext, req: Request, res: Response): Promise<void> {
  const flag = routeFlag(ctx, req);
  const context = (req.body as { context?: unknown } | undefined)?.context;
  if (!flag || typeof context !== "object" || context === null || Array.isArray(context)) {
    res.status(400).json({ error: { kind: "input", message: "send { context: {...} } for a visible flag" } });
    return;
  }
  try {
    const document = await ctx.cluster.document(flag.metadata.namespace ?? "");
    const result = evaluate(document, flagKey(flag), context as Record<string, unknown>);
    res.json({ result, revision: document.revision });
  } catch (error) {
    sendError(res, error);
  }
}
