// The operator's HTTP server, on every replica: /healthz, /readyz (the cache has synced and the
// replica is not shutting down), /metrics, and the Alertmanager route when a token is configured.
import { createServer, type Server } from "node:http";
import express, { type Router } from "express";
import { parseHostPort } from "../host-port.js";
import type { Runnable } from "./manager.js";
import type { OperatorMetrics } from "./metrics.js";

export interface HttpServerOptions {
  /** host:port; port 0 picks a free one. */
  address: string;
  metrics: OperatorMetrics;
  ready: () => boolean;
  /** Brings gauges computed from the cache up to date before a scrape. */
  beforeScrape?: () => void;
  /** Extra routes (the Alertmanager webhook). */
  routes?: Router;
}

export class OperatorHttpServer implements Runnable {
  readonly name = "http";
  readonly needsLeadership = false;
  #server?: Server;

  constructor(private readonly options: HttpServerOptions) {}

  /** The bound address (after start). */
  get address(): { host: string; port: number } | undefined {
    const address = this.#server?.address();
    return address && typeof address === "object" ? { host: address.address, port: address.port } : undefined;
  }

  async start(): Promise<void> {
    const { host, port } = parseHostPort(this.options.address, { flag: "--http-address" });
    const server = createServer(this.#app());
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port, host }, () => resolve());
    });
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  #app(): express.Express {
    const { metrics, ready, beforeScrape, routes } = this.options;
    const app = express();
    app.disable("x-powered-by");
    app.get("/healthz", (_req, res) => {
      res.type("text/plain").send("ok");
    });
    app.get("/readyz", (_req, res) => {
      const isReady = ready();
      res
        .status(isReady ? 200 : 503)
        .type("text/plain")
        .send(isReady ? "ok" : "informers not synced");
    });
    app.get("/metrics", async (_req, res) => {
      beforeScrape?.();
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
    if (routes) app.use(routes);
    return app;
  }
}
