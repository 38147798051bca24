// The Experiments page's routes: every flag with an experiment and its recorded result, and one
// experiment over time from the Prometheus the operator reads (with --prometheus-url).
import type { Express, Request, Response } from "express";
import { experimentHistory } from "../history.js";
import { experimentView, flagRow } from "../views.js";
import { type RouteContext, routeFlag } from "./context.js";

export function registerExperimentRoutes(app: Express, ctx: RouteContext): void {
  app.get("/api/experiments", (_req, res) => {
    const t = ctx.now();
    const flags = ctx.cluster.flags().filter((f) => f.spec.experiment !== undefined);
    res.json({
      experiments: flags
        .map((f) => ({ row: flagRow(f, t), experiment: experimentView(f) }))
        .sort((a, b) => a.row.namespace.localeCompare(b.row.namespace) || a.row.key.localeCompare(b.row.key)),
    });
  });
  app.get("/api/flags/:namespace/:name/experiment/history", (req, res) => history(ctx, req, res));
}

async function history(ctx: RouteContext, req: Request, res: Response): Promise<void> {
  const flag = routeFlag(ctx, req);
  if (!flag || !ctx.prometheusUrl) {
    res.status(404).json({ error: { kind: "notfound", message: "no such flag, or no --prometheus-url" } });
    return;
  }
  // Since the experiment started (at least 5 minutes, at most 30 days), else the last 6 hours;
  // about 300 points at most.
  const startedAt = Date.parse(String((flag.status?.experiment as { startedAt?: string })?.startedAt));
  const sinceStart = Number.isNaN(startedAt) ? undefined : (ctx.now().getTime() - startedAt) / 1000;
  const wanted =
    Number(req.query.seconds) || (sinceStart !== undefined ? Math.max(300, sinceStart) : 6 * 3600);
  const rangeSeconds = Math.ceil(Math.min(Math.max(wanted, 60), 30 * 86_400));
  const stepSeconds = Math.max(1, Math.ceil(rangeSeconds / 300));
  try {
    res.json(await experimentHistory(ctx.prometheusUrl, flag, { end: ctx.now(), rangeSeconds, stepSeconds }));
  } catch (error) {
    res.status(502).json({ error: { kind: "prometheus", message: (error as Error).message } });
  }
}
