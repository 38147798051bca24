// A tiny application for analysis tests: it "serves" traffic per flag on a timer and exposes
// `http_requests_total{flag, code}` on /metrics (the convention deploy/prometheus's rules use).
// A test raises a flag's error ratio and watches the real Prometheus notice.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Registry } from "prom-client";

export interface MetricsApp {
  /** host:port, for a Prometheus scrape target. */
  target: string;
  url: string;
  /** Start (or change) traffic for a flag: `ratio` of its requests answer 500. */
  setErrorRatio(flag: string, ratio: number): void;
  stopTraffic(flag: string): void;
  stop(): Promise<void>;
}

/** Requests per flag per tick; ticks every 100 ms, so 100 requests/s per flag. */
const PER_TICK = 10;

/** Serves a registry on GET /metrics at 127.0.0.1 and a free port (or `port`, reserved earlier). */
export async function serveMetrics(registry: Registry, port = 0): Promise<{ server: Server; port: number }> {
  const server: Server = createServer(async (req, res) => {
    if (req.url === "/metrics") {
      res.setHeader("content-type", registry.contentType);
      res.end(await registry.metrics());
      return;
    }
    res.statusCode = 404;
    res.end("not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}

export async function startMetricsApp(): Promise<MetricsApp> {
  const registry = new Registry();
  const requests = new Counter({
    name: "http_requests_total",
    help: "Requests served, by flag and HTTP status code.",
    labelNames: ["flag", "code"],
    registers: [registry],
  });
  const ratios = new Map<string, number>();
  // Fractions carried between ticks, so a 3 % ratio is exactly 3 % over time.
  const carry = new Map<string, number>();

  const tick = setInterval(() => {
    for (const [flag, ratio] of ratios) {
      const errorsExact = PER_TICK * ratio + (carry.get(flag) ?? 0);
      const errors = Math.floor(errorsExact);
      carry.set(flag, errorsExact - errors);
      requests.inc({ flag, code: "500" }, errors);
      requests.inc({ flag, code: "200" }, PER_TICK - errors);
    }
  }, 100);
  tick.unref();

  const { server, port } = await serveMetrics(registry);

  return {
    target: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    setErrorRatio(flag, ratio) {
      if (!ratios.has(flag)) {
        // Both series exist from the first scrape, so rate() has a baseline for errors too.
        requests.inc({ flag, code: "200" }, 0);
        requests.inc({ flag, code: "500" }, 0);
      }
      ratios.set(flag, Math.min(Math.max(ratio, 0), 1));
    },
    stopTraffic(flag) {
      ratios.delete(flag);
    },
    async stop() {
      clearInterval(tick);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
