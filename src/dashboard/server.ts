// `kubectl flagwright dashboard`: a local web server that shows FeatureFlags and drives their
// manual controls with the user's own kubeconfig and RBAC. Loopback only unless asked; every
// request must name this server in Host (DNS rebinding) and carry the session cookie the printed
// one-time login URL was exchanged for, and every write must come from the page itself (Origin),
// see security.ts. This module starts it and puts it together: headers, the guard, the static
// files (assets.ts), the API (routes/) and the event stream (flag-stream.ts).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import type { Logger } from "pino";
import { authenticatedUser } from "../controls/apply.js";
import type { RefsReport } from "../hygiene/refs.js";
import { loadKubeConfig } from "../kube/kubeconfig.js";
import { registerAssets } from "./assets.js";
import { ClusterView } from "./cluster.js";
import { FlagStream } from "./flag-stream.js";
import type { RouteContext } from "./routes/context.js";
import { registerControlRoutes } from "./routes/controls.js";
import { registerExperimentRoutes } from "./routes/experiments.js";
import { registerFlagRoutes } from "./routes/flags.js";
import { dashboardGuard } from "./security.js";

export interface DashboardOptions {
  kubeconfig?: string;
  context?: string;
  /** Only these namespaces; empty: every namespace the user may list. */
  namespaces: string[];
  address: string;
  port: number;
  configMapName: string;
  refs?: RefsReport;
  /** Prometheus the operator's experiment loop reads, for experiments over time. */
  prometheusUrl?: string;
  /** Further Host names to accept (when reached through a name other than the bound address). */
  allowHosts?: string[];
  log: Logger;
  now?: () => Date;
}

export interface Dashboard {
  /** The address to open: the server's, with the one-time login secret. */
  url: string;
  /** The server's address without the secret, e.g. http://127.0.0.1:3100/. */
  origin: string;
  user: string;
  close(): Promise<void>;
}

type Guard = ReturnType<typeof dashboardGuard>;

/**
 * Headers on every answer, refusals included: nothing needs to be framed, to load anything from
 * elsewhere, or to tell another site where it came from.
 */
function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader(
    "content-security-policy",
    "default-src 'self'; frame-ancestors 'none'; img-src 'self' data:",
  );
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("referrer-policy", "no-referrer");
  next();
}

/** The app: security headers, the guard (set once the port is known), the files and the API. */
function dashboardApp(ctx: RouteContext, stream: FlagStream, guard: () => Guard | undefined): Express {
  const app = express();
  app.disable("x-powered-by");
  app.use(securityHeaders);
  app.use((req, res, next) => {
    const g = guard();
    if (g === undefined) {
      res.status(503).json({ error: { kind: "starting", message: "the dashboard is starting" } });
      return;
    }
    g.middleware(req, res, next);
  });
  app.use(express.json({ limit: "64kb" }));
  registerAssets(app);
  registerFlagRoutes(app, ctx);
  registerControlRoutes(app, ctx);
  registerExperimentRoutes(app, ctx);
  app.get("/api/events", stream.open);
  app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(400).json({ error: { kind: "input", message: error.message } });
  });
  return app;
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { log } = options;
  const now = options.now ?? (() => new Date());
  const kc = await loadKubeConfig(options);
  const user = await authenticatedUser(kc);
  const cluster = new ClusterView(kc, log, options.configMapName);
  const stream = new FlagStream(now);
  await cluster.start(options.namespaces, stream.broadcast);
  const ctx: RouteContext = {
    kc,
    cluster,
    user,
    log,
    now,
    ...(options.refs !== undefined && { refs: options.refs }),
    ...(options.prometheusUrl !== undefined && { prometheusUrl: options.prometheusUrl }),
  };
  // Set once the port is known (it names the session cookie); until then nothing is served.
  let guard: Guard | undefined;
  const server: Server = createServer(dashboardApp(ctx, stream, () => guard));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: options.address, port: options.port }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  guard = dashboardGuard({
    address: options.address,
    port,
    log,
    ...(options.allowHosts !== undefined && { allowHosts: options.allowHosts }),
  });
  const url = guard.loginUrl;
  const origin = new URL("/", url).href;
  // The login secret stays out of the log.
  log.info(
    { reason: "Listening", url: origin, user, namespaces: cluster.scopes.map((s) => s ?? "*") },
    "dashboard serving",
  );
  return {
    url,
    origin,
    user,
    close: async () => {
      stream.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await cluster.stop();
    },
  };
}
