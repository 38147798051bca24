// Real Prometheus and Alertmanager (Debian's packages) for tests: on 127.0.0.1 free ports, temp
// data dirs, the project's rule files, 1 s scrape and evaluation, and an Alertmanager whose only
// receiver is a webhook URL the test passes in. Clustering is off so nothing but loopback is
// contacted. Each handle stops its process and removes its folder.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { waitFor } from "./wait.js";

export const PROMETHEUS_BIN = process.env.FLAGWRIGHT_PROMETHEUS ?? "/usr/bin/prometheus";
export const ALERTMANAGER_BIN = process.env.FLAGWRIGHT_ALERTMANAGER ?? "/usr/bin/prometheus-alertmanager";
export const PROMTOOL_BIN = process.env.FLAGWRIGHT_PROMTOOL ?? "/usr/bin/promtool";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const RULE_FILE = join(repoRoot, "deploy/prometheus/flagwright-rules.yaml");

/** A port the kernel just handed out on loopback (closed again, so the caller can bind it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface Supervised {
  start(): Promise<void>;
  /** Stops the process but keeps its data, so start() resumes it (same port, same TSDB). */
  stop(): Promise<void>;
  /** Stops and removes the data folder. */
  dispose(): Promise<void>;
  readonly running: boolean;
  logTail(): string;
}

function supervise(name: string, bin: string, args: string[], dir: string, readyUrl: string): Supervised {
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const logFile = join(dir, `${name}.log`);
  const logTail = () =>
    existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-30).join("\n") : "";

  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill("SIGTERM");
    const timer = setTimeout(() => c.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
    child = undefined;
  };

  return {
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    logTail,
    async start() {
      if (child && child.exitCode === null) return;
      const log = createWriteStream(logFile, { flags: "a" });
      const c = spawn(bin, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
      c.stdout?.pipe(log);
      c.stderr?.pipe(log);
      child = c;
      exited = new Promise((resolve) => c.once("exit", () => resolve()));
      let failed: Error | undefined;
      c.once("error", (e) => {
        failed = e;
      });
      c.once("exit", (code, signal) => {
        failed ??= new Error(`${name} exited (${code ?? signal})`);
      });
      try {
        await waitFor(
          async () => {
            // A crashed process ends the wait at once instead of at the deadline.
            if (failed) return "exited";
            const res = await fetch(readyUrl, { signal: AbortSignal.timeout(1000) });
            return res.ok && "ready";
          },
          { timeoutMs: 30_000, intervalMs: 100, what: `${name} ready at ${readyUrl}` },
        );
        if (failed) throw failed;
      } catch (error) {
        await stop();
        throw new Error(`${name} did not start: ${(error as Error).message}\n${logTail()}`);
      }
    },
    stop,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PrometheusOptions {
  /** host:port targets scraped every second as job "app". */
  targets?: string[];
  /** Rule files; default the project's deploy/prometheus/flagwright-rules.yaml. */
  ruleFiles?: string[];
  /** host:port of the Alertmanagers to notify. */
  alertmanagers?: string[];
}

export interface PrometheusHandle extends Supervised {
  url: string;
  port: number;
}

export async function startPrometheus(options: PrometheusOptions = {}): Promise<PrometheusHandle> {
  if (!existsSync(PROMETHEUS_BIN)) {
    throw new Error(`${PROMETHEUS_BIN} not found: install Debian's prometheus package (.ci/run does)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "flagwright-prometheus-"));
  const port = await freePort();
  const config = {
    global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
    rule_files: options.ruleFiles ?? [RULE_FILE],
    ...(options.alertmanagers?.length && {
      alerting: { alertmanagers: [{ static_configs: [{ targets: options.alertmanagers }] }] },
    }),
    scrape_configs: [{ job_name: "app", static_configs: [{ targets: options.targets ?? [] }] }],
  };
  writeFileSync(join(dir, "prometheus.yml"), stringify(config));
  const url = `http://127.0.0.1:${port}`;
  const proc = supervise(
    "prometheus",
    PROMETHEUS_BIN,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Re-send firing alerts to Alertmanager every second rather than every minute.
      "--rules.alert.resend-delay=1s",
      "--log.format=json",
    ],
    dir,
    `${url}/-/ready`,
  );
  await proc.start();
  return Object.assign(proc, { url, port });
}

export interface AlertmanagerOptions {
  /** The only receiver: a webhook. */
  webhookUrl: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string;
}

export interface AlertmanagerHandle extends Supervised {
  url: string;
  /** host:port, for Prometheus' alerting config. */
  target: string;
}

export async function startAlertmanager(options: AlertmanagerOptions): Promise<AlertmanagerHandle> {
  if (!existsSync(ALERTMANAGER_BIN)) {
    throw new Error(`${ALERTMANAGER_BIN} not found: install Debian's prometheus-alertmanager package`);
  }
  const dir = mkdtempSync(join(tmpdir(), "flagwright-alertmanager-"));
  const port = await freePort();
  const config = {
    route: {
      receiver: "flagwright",
      group_by: ["alertname", "flag"],
      group_wait: "0s",
      group_interval: "1s",
      repeat_interval: "1h",
    },
    receivers: [
      {
        name: "flagwright",
        webhook_configs: [
          {
            url: options.webhookUrl,
            send_resolved: true,
            ...(options.token && {
              http_config: { authorization: { type: "Bearer", credentials: options.token } },
            }),
          },
        ],
      },
    ],
  };
  writeFileSync(join(dir, "alertmanager.yml"), stringify(config));
  const url = `http://127.0.0.1:${port}`;
  const proc = supervise(
    "alertmanager",
    ALERTMANAGER_BIN,
    [
      `--config.file=${join(dir, "alertmanager.yml")}`,
      `--storage.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Empty: no gossip listener and no peers, so it never reaches beyond loopback.
      "--cluster.listen-address=",
      "--log.format=json",
    ],
    dir,
    `${url}/-/ready`,
  );
  await proc.start();
  return Object.assign(proc, { url, target: `127.0.0.1:${port}` });
}

/** `promtool check rules FILE...`: resolves with its output, rejects with it on failure. */
export function promtoolCheckRules(files: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL_BIN, ["check", "rules", ...files]);
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(out))));
  });
}
