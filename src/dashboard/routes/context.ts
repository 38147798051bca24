// What the dashboard's route modules share: the cluster view, the user, the options, the clock,
// and how a failed read or a refused write is answered.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Request, Response } from "express";
import type { Logger } from "pino";
import type { FeatureFlag } from "../../api/index.js";
import { ControlApiError } from "../../controls/apply.js";
import { TransitionError } from "../../controls/transitions.js";
import type { RefsReport } from "../../hygiene/refs.js";
import type { ClusterView } from "../cluster.js";

export interface RouteContext {
  kc: KubeConfig;
  cluster: ClusterView;
  /** Who the kubeconfig authenticates as: controls are recorded as by this user. */
  user: string;
  log: Logger;
  now: () => Date;
  refs?: RefsReport;
  prometheusUrl?: string;
}

/** The flag the route's :namespace and :name name, from the watch's cache. */
export function routeFlag(ctx: RouteContext, req: Request): FeatureFlag | undefined {
  return ctx.cluster.flag(String(req.params.namespace), String(req.params.name));
}

/** One line for a read that failed: "list events in namespace shop: API server answered 403: ...". */
export function describeFailure(error: unknown): string {
  if (error instanceof ControlApiError) {
    const { verb, resource, namespace } = error.request;
    return `${verb} ${resource} in namespace ${namespace}: ${error.message}`;
  }
  return (error as Error).message;
}

/** A refusal from the API server as the page shows it: which verb on which resource, and why. */
export function sendError(res: Response, error: unknown): void {
  if (error instanceof TransitionError) {
    res.status(409).json({ error: { kind: "transition", message: error.message } });
  } else if (error instanceof ControlApiError) {
    const status = error.code === 403 ? 403 : error.code === 404 ? 404 : 502;
    res.status(status).json({
      error: {
        kind: error.code === 403 ? "forbidden" : "api",
        message: error.message,
        code: error.code,
        ...error.request,
      },
    });
  } else {
    res.status(500).json({ error: { kind: "internal", message: (error as Error).message } });
  }
}
