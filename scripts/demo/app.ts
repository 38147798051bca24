// The demo's "application": a population of simulated users hitting a checkout. For every user,
// over and over, it asks the sidecar (OFREP, exactly as an OpenFeature client would) whether the
// canary flag is on, and serves the request on the new path (counted as
// `http_requests_total{flag="<key>", code}`, the convention deploy/prometheus's rules watch) or on
// the old one (no flag label). A "bug" can be switched on that fails a share of new-path requests.
import { Agent, request } from "node:http";
import { Counter, Registry } from "prom-client";
import { serveMetrics } from "../../test/support/metrics-app.js";

export interface Sweep {
  /** Date.now() when the sweep started and ended. */
  startedAt: number;
  endedAt: number;
  /** Users the sidecar answered "on" for, out of `total`. */
  on: number;
  total: number;
  /** Requests that failed (new path with the bug on), in this sweep. */
  errors: number;
  /** Sidecar requests that failed outright (counted as off). */
  sidecarErrors: number;
}

export interface DemoApp {
  /** host:port of /metrics, for Prometheus. */
  target: string;
  users: string[];
  /** The latest complete sweep over every user. */
  readonly last: Sweep | undefined;
  /** Requests per second over the last few sweeps: all, and on the new path. */
  rates(): { total: number; onPath: number; errors: number };
  /** Begin sending traffic through the sidecar at `sidecarUrl`. */
  startTraffic(sidecarUrl: string): void;
  /** Share (0..1) of new-path requests that fail from now on. */
  setErrorRatio(ratio: number): void;
  /** Called after every complete sweep. */
  onSweep(listener: (sweep: Sweep) => void): void;
  stop(): Promise<void>;
}

export interface DemoAppOptions {
  flag: string;
  users: number;
  /** Sidecar requests in flight at once. */
  concurrency?: number;
  /** Start-to-start time of sweeps over the population (a sweep that takes longer starts the next at once). */
  sweepEveryMs?: number;
}

export async function startDemoApp(options: DemoAppOptions): Promise<DemoApp> {
  const { flag } = options;
  const concurrency = options.concurrency ?? 16;
  const sweepEveryMs = options.sweepEveryMs ?? 250;
  const users = Array.from({ length: options.users }, (_, i) => `user-${String(i + 1).padStart(4, "0")}`);

  const registry = new Registry();
  const requests = new Counter({
    name: "http_requests_total",
    help: "Checkout requests served, by flag (the new path; empty on the old path) and HTTP status code.",
    labelNames: ["flag", "code"],
    registers: [registry],
  });
  // Both new-path series exist from the first scrape, so rate() has a baseline for errors too.
  requests.inc({ flag, code: "200" }, 0);
  requests.inc({ flag, code: "500" }, 0);

  const { server, port } = await serveMetrics(registry);

  let errorRatio = 0;
  // Carried between requests, so a 50 % ratio fails exactly every other new-path request.
  let errorCarry = 0;
  let running = false;
  let loop: Promise<void> | undefined;
  let last: Sweep | undefined;
  const history: Sweep[] = [];
  const listeners: ((sweep: Sweep) => void)[] = [];

  // node:http with a keep-alive pool: several times cheaper per request than fetch().
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const path = `/ofrep/v1/evaluate/flags/${encodeURIComponent(flag)}`;

  function ask(sidecarUrl: URL, user: string): Promise<boolean | undefined> {
    const body = JSON.stringify({ context: { targetingKey: user } });
    return new Promise((resolve) => {
      const req = request(
        {
          agent,
          host: sidecarUrl.hostname,
          port: sidecarUrl.port,
          method: "POST",
          path,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            text += chunk;
          });
          res.on("end", () => {
            // 404 (no such flag yet) is "off", as an OpenFeature client's default would be.
            if (res.statusCode === 404) return resolve(false);
            try {
              resolve(
                res.statusCode === 200 ? (JSON.parse(text) as { value?: unknown }).value === true : undefined,
              );
            } catch {
              resolve(undefined);
            }
          });
          res.on("error", () => resolve(undefined));
        },
      );
      req.on("error", () => resolve(undefined));
      req.end(body);
    });
  }

  async function sweep(sidecarUrl: URL): Promise<Sweep> {
    const s: Sweep = {
      startedAt: Date.now(),
      endedAt: 0,
      on: 0,
      total: users.length,
      errors: 0,
      sidecarErrors: 0,
    };
    let next = 0;
    const lane = async () => {
      while (running && next < users.length) {
        const user = users[next++] as string;
        const answer = await ask(sidecarUrl, user);
        if (answer === undefined) s.sidecarErrors++;
        if (answer === true) {
          s.on++;
          errorCarry += errorRatio;
          const failed = errorCarry >= 1;
          if (failed) {
            errorCarry -= 1;
            s.errors++;
          }
          requests.inc({ flag, code: failed ? "500" : "200" });
        } else {
          requests.inc({ flag: "", code: "200" });
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
    s.endedAt = Date.now();
    return s;
  }

  return {
    target: `127.0.0.1:${port}`,
    users,
    get last() {
      return last;
    },
    rates() {
      const recent = history.slice(-8);
      if (recent.length === 0) return { total: 0, onPath: 0, errors: 0 };
      const span = ((recent.at(-1) as Sweep).endedAt - (recent[0] as Sweep).startedAt) / 1000 || 1;
      const sum = (pick: (s: Sweep) => number) => recent.reduce((n, s) => n + pick(s), 0) / span;
      return { total: sum((s) => s.total), onPath: sum((s) => s.on), errors: sum((s) => s.errors) };
    },
    startTraffic(sidecarUrl) {
      if (running) return;
      running = true;
      loop = (async () => {
        while (running) {
          const s = await sweep(new URL(sidecarUrl));
          if (!running) break;
          last = s;
          history.push(s);
          if (history.length > 32) history.shift();
          for (const listener of listeners) listener(s);
          const wait = sweepEveryMs - (Date.now() - s.startedAt);
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        }
      })();
    },
    setErrorRatio(ratio) {
      errorRatio = Math.min(Math.max(ratio, 0), 1);
    },
    onSweep(listener) {
      listeners.push(listener);
    },
    async stop() {
      running = false;
      await loop;
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
