// `kubectl flagwright dashboard`: a local web server that shows FeatureFlags and drives their
// manual controls with the user's own kubeconfig and RBAC. Loopback only unless asked; every
// request must name this server in Host (DNS rebinding) and carry the session cookie the printed
// one-time login URL was exchanged for, and every write must come from the page itself (Origin),
// see security.ts.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Logger } from "pino";
import { type FeatureFlag, flagKey } from "../api/index.js";
import { applyControl, authenticatedUser, ControlApiError } from "../controls/apply.js";
import { CONTROL_COMMANDS, type ControlCommand, TransitionError } from "../controls/transitions.js";
import { evaluate } from "../core/index.js";
import type { RefsReport } from "../hygiene/refs.js";
import { loadKubeConfig } from "../kube/kubeconfig.js";
import { ClusterView, type FlagChange } from "./cluster.js";
import { experimentHistory } from "./history.js";
import { dashboardGuard } from "./security.js";
import { buildTimeline, debtView, experimentView, flagRow, sortRows } from "./views.js";

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

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
};

function asset(name: string, body: Buffer): Asset {
  const type = TYPES[name.split(".").at(-1) ?? ""] ?? "application/octet-stream";
  return { type, body, gzip: gzipSync(body, { level: 9 }) };
}

/**
 * The page and its scripts, read once and gzipped once. The charting library comes from the
 * installed uplot package (a dependency, so it ships with Flagwright): no CDN, works offline.
 */
function loadAssets(): Map<string, Asset> {
  const dir = new URL("./static/", import.meta.url);
  const read = (name: string) => readFileSync(new URL(name, dir));
  const require = createRequire(import.meta.url);
  return new Map([
    ["/", asset("index.html", read("index.html"))],
    ["/static/app.js", asset("app.js", read("app.js"))],
    ["/static/charts.js", asset("charts.js", read("charts.js"))],
    ["/static/style.css", asset("style.css", read("style.css"))],
    ["/vendor/uplot.js", asset("uplot.js", readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js")))],
    ["/vendor/uplot.css", asset("uplot.css", readFileSync(require.resolve("uplot/dist/uPlot.min.css")))],
  ]);
}

function sendAsset(req: Request, res: Response, a: Asset): void {
  res.setHeader("content-type", a.type);
  res.setHeader("vary", "accept-encoding");
  if (/\bgzip\b/.test(req.headers["accept-encoding"] ?? "")) {
    res.setHeader("content-encoding", "gzip");
    res.end(a.gzip);
  } else res.end(a.body);
}

/** One line for a read that failed: "list events in namespace shop: API server answered 403: ...". */
function describeFailure(error: unknown): string {
  if (error instanceof ControlApiError) {
    const { verb, resource, namespace } = error.request;
    return `${verb} ${resource} in namespace ${namespace}: ${error.message}`;
  }
  return (error as Error).message;
}

/** A refusal from the API server as the page shows it: which verb on which resource, and why. */
function sendError(res: Response, error: unknown): void {
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

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { log } = options;
  const now = options.now ?? (() => new Date());
  const kc = await loadKubeConfig(options);
  const user = await authenticatedUser(kc);
  const cluster = new ClusterView(kc, log, options.configMapName);
  const assets = loadAssets();
  const streams = new Set<Response>();

  const broadcast = (change: FlagChange) => {
    const payload =
      change.type === "upsert"
        ? { type: "upsert", row: flagRow(change.flag, now()) }
        : { type: "delete", namespace: change.flag.metadata.namespace, name: change.flag.metadata.name };
    const frame = `event: flag\ndata: ${JSON.stringify(payload)}\n\n`;
    for (const res of streams) res.write(frame);
  };
  await cluster.start(options.namespaces, broadcast);

  const app = express();
  app.disable("x-powered-by");
  const server: Server = createServer(app);
  // Set once the port is known (it names the session cookie); until then nothing is served.
  let guard: ReturnType<typeof dashboardGuard> | undefined;

  app.use((_req, res, next) => {
    // No answer (refusals included) needs to be framed, to load anything from elsewhere, or to
    // tell another site where it came from.
    res.setHeader(
      "content-security-policy",
      "default-src 'self'; frame-ancestors 'none'; img-src 'self' data:",
    );
    res.setHeader("x-content-type-options", "nosniff");
    res.setHeader("referrer-policy", "no-referrer");
    next();
  });
  app.use((req, res, next) => {
    if (guard === undefined) {
      res.status(503).json({ error: { kind: "starting", message: "the dashboard is starting" } });
      return;
    }
    guard.middleware(req, res, next);
  });
  app.use(express.json({ limit: "64kb" }));

  for (const [path, a] of assets) app.get(path, (req, res) => sendAsset(req, res, a));

  const findFlag = (req: Request): FeatureFlag | undefined =>
    cluster.flag(String(req.params.namespace), String(req.params.name));

  app.get("/api/info", (_req, res) => {
    res.json({
      user,
      context: kc.getCurrentContext(),
      namespaces: cluster.scopes.map((s) => s ?? "*"),
      refsGiven: options.refs !== undefined,
      prometheus: options.prometheusUrl !== undefined,
      controls: CONTROL_COMMANDS,
    });
  });

  app.get("/api/flags", (_req, res) => {
    const t = now();
    res.json({ rows: sortRows(cluster.flags().map((f) => flagRow(f, t))) });
  });

  app.get("/api/flags/:namespace/:name", async (req, res) => {
    const flag = findFlag(req);
    if (!flag) {
      res.status(404).json({ error: { kind: "notfound", message: "no such flag (or not visible to you)" } });
      return;
    }
    // Segments the rules name; a refusal to list them is shown, not fatal.
    const names = new Set((flag.spec.rules ?? []).flatMap((r) => r.segments ?? []));
    let segments: unknown = [];
    if (names.size > 0) {
      try {
        segments = (await cluster.segments(flag.metadata.namespace ?? ""))
          .filter((s) => names.has(s.metadata.name ?? ""))
          .map((s) => ({ name: s.metadata.name, spec: s.spec }));
      } catch (error) {
        segments = { error: describeFailure(error) };
      }
    }
    // The operator's Events are the rollout's history; without permission to list them the
    // timeline still shows what status holds, and says what is missing.
    let events: Awaited<ReturnType<typeof cluster.events>> = [];
    let eventsError: string | undefined;
    try {
      events = await cluster.events(flag.metadata.namespace ?? "", flag.metadata.name ?? "");
    } catch (error) {
      eventsError = describeFailure(error);
    }
    res.json({
      row: flagRow(flag, now()),
      spec: flag.spec,
      timeline: buildTimeline(flag, events),
      ...(eventsError !== undefined && { eventsError }),
      experiment: experimentView(flag),
      segments,
    });
  });

  app.post("/api/flags/:namespace/:name/evaluate", async (req, res) => {
    const flag = findFlag(req);
    const context = (req.body as { context?: unknown } | undefined)?.context;
    if (!flag || typeof context !== "object" || context === null || Array.isArray(context)) {
      res
        .status(400)
        .json({ error: { kind: "input", message: "send { context: {...} } for a visible flag" } });
      return;
    }
    try {
      const document = await cluster.document(flag.metadata.namespace ?? "");
      const result = evaluate(document, flagKey(flag), context as Record<string, unknown>);
      res.json({ result, revision: document.revision });
    } catch (error) {
      sendError(res, error);
    }
  });

  app.post("/api/flags/:namespace/:name/controls/:command", async (req, res) => {
    const command = req.params.command as ControlCommand;
    if (!CONTROL_COMMANDS.includes(command)) {
      res.status(404).json({ error: { kind: "input", message: `unknown control ${command}` } });
      return;
    }
    const body = (req.body ?? {}) as { reason?: unknown; full?: unknown };
    try {
      const { name, plan } = await applyControl(cluster.custom, {
        command,
        flag: String(req.params.name),
        namespace: String(req.params.namespace),
        by: user,
        now,
        ...(typeof body.reason === "string" && body.reason !== "" && { reason: body.reason }),
        ...(body.full === true && { full: true }),
      });
      log.info({ event: "control", command, namespace: req.params.namespace, name, by: user });
      res.json({ name, summary: plan.summary, changes: plan.changes, warnings: plan.warnings });
    } catch (error) {
      log.warn({ event: "control_failed", command, name: req.params.name, error: (error as Error).message });
      sendError(res, error);
    }
  });

  app.get("/api/experiments", (_req, res) => {
    const t = now();
    const flags = cluster.flags().filter((f) => f.spec.experiment !== undefined);
    res.json({
      experiments: flags
        .map((f) => ({ row: flagRow(f, t), experiment: experimentView(f) }))
        .sort((a, b) => a.row.namespace.localeCompare(b.row.namespace) || a.row.key.localeCompare(b.row.key)),
    });
  });

  app.get("/api/flags/:namespace/:name/experiment/history", async (req, res) => {
    const flag = findFlag(req);
    if (!flag || !options.prometheusUrl) {
      res.status(404).json({ error: { kind: "notfound", message: "no such flag, or no --prometheus-url" } });
      return;
    }
    // Since the experiment started (at least 5 minutes, at most 30 days), else the last 6 hours;
    // about 300 points at most.
    const startedAt = Date.parse(String((flag.status?.experiment as { startedAt?: string })?.startedAt));
    const sinceStart = Number.isNaN(startedAt) ? undefined : (now().getTime() - startedAt) / 1000;
    const wanted =
      Number(req.query.seconds) || (sinceStart !== undefined ? Math.max(300, sinceStart) : 6 * 3600);
    const rangeSeconds = Math.ceil(Math.min(Math.max(wanted, 60), 30 * 86_400));
    const stepSeconds = Math.max(1, Math.ceil(rangeSeconds / 300));
    try {
      res.json(
        await experimentHistory(options.prometheusUrl, flag, { end: now(), rangeSeconds, stepSeconds }),
      );
    } catch (error) {
      res.status(502).json({ error: { kind: "prometheus", message: (error as Error).message } });
    }
  });

  app.get("/api/debt", (_req, res) => {
    res.json(debtView(cluster.flags(), options.refs, now()));
  });

  app.get("/api/events", (req, res) => {
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      connection: "keep-alive",
    });
    // First frame at once, so the page knows it is live before anything changes.
    res.write("retry: 1000\nevent: hello\ndata: {}\n\n");
    streams.add(res);
    req.on("close", () => streams.delete(res));
  });
  // Comments keep idle connections (and proxies) from timing out.
  const heartbeat = setInterval(() => {
    for (const res of streams) res.write(": heartbeat\n\n");
  }, 15_000);
  heartbeat.unref();

  app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
    res.status(400).json({ error: { kind: "input", message: error.message } });
  });

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
  log.info({ event: "listening", url: origin, user, namespaces: cluster.scopes.map((s) => s ?? "*") });

  return {
    url,
    origin,
    user,
    close: async () => {
      clearInterval(heartbeat);
      for (const res of streams) res.end();
      streams.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await cluster.stop();
    },
  };
}
