// The demo's "application": a population of simulated users hitting a checkout. For every user,
// over and over, it asks the sidecar (OFREP, exactly as an OpenFeature client would) whether the
// canary flag is on, and serves the request on the new path or the old one. Every request is
// counted as `http_requests_total{flag, code, feature_flag_key, feature_flag_result_variant}`:
// `flag` is the flag's key on the new path and empty on the old one (the convention
// deploy/prometheus's absolute alert watches), and the two `feature_flag_*` labels are
// OpenTelemetry's feature-flag attributes (feature_flag.key, feature_flag.result.variant) carried
// on both paths, which is what a guarded rollout's cohort comparison reads (see
// docs/progressive-delivery.md). A "bug" can be switched on that fails a share of new-path
// requests, on top of a base error ratio that both paths share.
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
  /** Requests that failed (the base errors on either path, and the bug on the new path), in this sweep. */
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
  /** Share (0..1) of requests on either path that fail from now on (the service's background errors). */
  setBaseErrorRatio(ratio: number): void;
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
    help:
      "Checkout requests served, by flag (the new path; empty on the old path), HTTP status code, and " +
      "the flag key and served variant (OpenTelemetry feature_flag.key, feature_flag.result.variant).",
    labelNames: ["flag", "code", "feature_flag_key", "feature_flag_result_variant"],
    registers: [registry],
  });
  const labels = (on: boolean, variant: string, code: string) => ({
    flag: on ? flag : "",
    code,
    feature_flag_key: flag,
    feature_flag_result_variant: variant,
  });
  // Every series exists from the first scrape, so rate() and increase() have a baseline.
  for (const [on, variant] of [
    [true, "on"],
    [false, "off"],
  ] as const) {
    requests.inc(labels(on, variant, "200"), 0);
    requests.inc(labels(on, variant, "500"), 0);
  }

  const { server, port } = await serveMetrics(registry);

  let errorRatio = 0;
  let baseErrorRatio = 0;
  // Carried between requests, so a 50 % ratio fails exactly every other new-path request.
  let errorCarry = 0;
  // The base errors are drawn at random (seeded), so both cohorts see the same noisy rate.
  let seed = 0x2f6b1d;
  const random = () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let running = false;
  let loop: Promise<void> | undefined;
  let last: Sweep | undefined;
  const history: Sweep[] = [];
  const listeners: ((sweep: Sweep) => void)[] = [];

  // node:http with a keep-alive pool: several times cheaper per request than fetch().
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const path = `/ofrep/v1/evaluate/flags/${encodeURIComponent(flag)}`;

  /** The flag's value and variant for one user (undefined when the sidecar failed). */
  function ask(sidecarUrl: URL, user: string): Promise<{ on: boolean; variant: string } | undefined> {
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
            if (res.statusCode === 404) return resolve({ on: false, variant: "off" });
            if (res.statusCode !== 200) return resolve(undefined);
            try {
              const body = JSON.parse(text) as { value?: unknown; variant?: unknown };
              const on = body.value === true;
              resolve({ on, variant: typeof body.variant === "string" ? body.variant : on ? "on" : "off" });
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
        // A failed evaluation is served as off, as an OpenFeature client's default would be.
        const on = answer?.on === true;
        const variant = answer?.variant ?? "off";
        let failed = random() < baseErrorRatio;
        if (on) {
          s.on++;
          errorCarry += errorRatio;
          if (errorCarry >= 1) {
            errorCarry -= 1;
            failed = true;
          }
        }
        if (failed) s.errors++;
        requests.inc(labels(on, variant, failed ? "500" : "200"));
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
    setBaseErrorRatio(ratio) {
      baseErrorRatio = Math.min(Math.max(ratio, 0), 1);
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
