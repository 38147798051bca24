// POST /api/flags/:namespace/:name/controls/:command: the manual controls (kill, pause,
// promote...) as the signed-in user, through src/controls like the kubectl plugin.
import type { Express, Request, Response } from "express";
import { applyControl } from "../../controls/apply.js";
import { CONTROL_COMMANDS, type ControlCommand } from "../../controls/transitions.js";
import { type RouteContext, sendError } from "./context.js";

export function registerControlRoutes(app: Express, ctx: RouteContext): void {
  app.post("/api/flags/:namespace/:name/controls/:command", (req, res) => control(ctx, req, res));
}

async function control(ctx: RouteContext, req: Request, res: Response): Promise<void> {
  const command = req.params.command as ControlCommand;
  if (!CONTROL_COMMANDS.includes(command)) {
    res.status(404).json({ error: { kind: "input", message: `unknown control ${command}` } });
    return;
  }
  const body = (req.body ?? {}) as { reason?: unknown; full?: unknown };
  try {
    const { name, plan } = await applyControl(ctx.cluster.custom, {
      command,
      flag: String(req.params.name),
      namespace: String(req.params.namespace),
      by: ctx.user,
      now: ctx.now,
      ...(typeof body.reason === "string" && body.reason !== "" && { reason: body.reason }),
      ...(body.full === true && { full: true }),
    });
    ctx.log.info(
      { reason: "ControlApplied", command, namespace: req.params.namespace, flag: name, by: ctx.user },
      plan.summary,
    );
    res.json({ name, summary: plan.summary, changes: plan.changes, warnings: plan.warnings });
  } catch (error) {
    ctx.log.warn(
      {
        reason: "ControlFailed",
        command,
        namespace: req.params.namespace,
        flag: req.params.name,
        err: (error as Error).message,
      },
      "control refused",
    );
    sendError(res, error);
  }
}
