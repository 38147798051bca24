// Real Prometheus 3 and Alertmanager for tests and the demo, built from the Go module proxy
// (tools/prometheus, tools/alertmanager) once and cached under ~/.cache/flagwright like the control
// plane: on 127.0.0.1 free ports, temp data dirs, the project's rule files, 1 s scrape and
// evaluation, and an Alertmanager whose only receiver is a webhook URL the test passes in.
// Clustering is off so nothing but loopback is contacted. Each handle stops its process and
// removes its folder. FLAGWRIGHT_PROMETHEUS / _ALERTMANAGER / _PROMTOOL point at other binaries
// (e.g. a Prometheus 2 to compare). `node --import tsx test/support/prometheus.ts` builds all three
// (.ci/run does) and prints their paths.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { ensureGoBuild, type GoTarget, goBuildDir } from "../../scripts/go-build.js";
import { waitFor } from "./wait.js";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const RULE_FILE = join(repoRoot, "deploy/prometheus/flagwright-rules.yaml");

const prometheusModule = join(repoRoot, "tools/prometheus");
const alertmanagerModule = join(repoRoot, "tools/alertmanager");

/** The pinned version of `module` in `dir`'s go.mod, for the binaries' --version and build info. */
function pinnedVersion(dir: string, module: string): string {
  const gomod = readFileSync(join(dir, "go.mod"), "utf8");
  const version = new RegExp(`(?:^|\\s)${module.replaceAll(".", "\\.")} (v\\S+)`, "m").exec(gomod)?.[1];
  if (!version) throw new Error(`${dir}/go.mod must require ${module}`);
  return version;
}

/** The link flags Prometheus' own build (promu) sets, so /api/v1/status/buildinfo names the version. */
function versionLdflags(version: string): string {
  return [
    `-X github.com/prometheus/common/version.Version=${version}`,
    "-X github.com/prometheus/common/version.Branch=HEAD",
    "-X github.com/prometheus/common/version.BuildUser=flagwright",
  ].join(" ");
}

// Module v0.3xx.y is Prometheus 3.xx.y.
const prometheusVersion = () =>
  pinnedVersion(prometheusModule, "github.com/prometheus/prometheus").replace(
    /^v0\.3(\d\d)\./,
    (_, minor) => `3.${Number(minor)}.`,
  );

// Neither the tests nor the demo use service discovery: `remove_all_sd` leaves the cloud and
// Kubernetes discoverers (and a third of the build) out. The web UI is left out too (it is npm-built
// and not in the module zip); the HTTP API, which is all the project uses, is unaffected.
// promtool is its own build: it links the Kubernetes client whatever the tags, and only the rule
// file tests need it, so the demo does not wait for it.
const builds = {
  prometheus: {
    name: "prometheus",
    dir: prometheusModule,
    target: (): GoTarget => ({
      binary: "prometheus",
      pkg: "github.com/prometheus/prometheus/cmd/prometheus",
      tags: ["remove_all_sd"],
      ldflags: versionLdflags(prometheusVersion()),
    }),
  },
  promtool: {
    name: "promtool",
    dir: prometheusModule,
    target: (): GoTarget => ({
      binary: "promtool",
      pkg: "github.com/prometheus/prometheus/cmd/promtool",
      tags: ["remove_all_sd"],
      ldflags: versionLdflags(prometheusVersion()),
    }),
  },
  alertmanager: {
    name: "alertmanager",
    dir: alertmanagerModule,
    target: (): GoTarget => ({
      binary: "alertmanager",
      pkg: "github.com/prometheus/alertmanager/cmd/alertmanager",
      ldflags: versionLdflags(
        pinnedVersion(alertmanagerModule, "github.com/prometheus/alertmanager").replace(/^v/, ""),
      ),
    }),
  },
};
type Tool = keyof typeof builds;

const cachedPath = (tool: Tool) => join(goBuildDir(builds[tool].name, builds[tool].dir), tool);

export const PROMETHEUS_BIN = process.env.FLAGWRIGHT_PROMETHEUS ?? cachedPath("prometheus");
export const ALERTMANAGER_BIN = process.env.FLAGWRIGHT_ALERTMANAGER ?? cachedPath("alertmanager");
export const PROMTOOL_BIN = process.env.FLAGWRIGHT_PROMTOOL ?? cachedPath("promtool");

const overrides: Record<Tool, string> = {
  prometheus: PROMETHEUS_BIN,
  alertmanager: ALERTMANAGER_BIN,
  promtool: PROMTOOL_BIN,
};

/** `tool`'s binary: an override as given, else the cached build, built first if missing. */
async function ensureTool(tool: Tool, log: (line: string) => void): Promise<string> {
  const bin = overrides[tool];
  if (bin !== cachedPath(tool)) {
    if (!existsSync(bin)) throw new Error(`${bin} not found (set by FLAGWRIGHT_${tool.toUpperCase()})`);
    return bin;
  }
  if (existsSync(bin)) return bin;
  const { name, dir, target } = builds[tool];
  await ensureGoBuild({ name, dir, targets: [target()], log });
  return bin;
}

const stderrLog = (line: string) => console.error(`[prometheus build] ${line}`);

/**
 * Builds Prometheus and Alertmanager (the two the demo and the integration tests start) unless
 * they are cached; `log` hears what is built, its progress and how long it took.
 */
export async function ensurePrometheusBinaries(
  log: (line: string) => void = stderrLog,
): Promise<{ prometheus: string; alertmanager: string }> {
  return {
    prometheus: await ensureTool("prometheus", log),
    alertmanager: await ensureTool("alertmanager", log),
  };
}

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

/**
 * `count` distinct free loopback ports, all held open until every one is known: separate
 * freePort() calls can return the same port twice (each is closed before the next is asked for).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    return await Promise.all(
      servers.map(
        (server) =>
          new Promise<number>((resolve, reject) => {
            server.once("error", reject);
            server.listen(0, "127.0.0.1", () => {
              const address = server.address();
              resolve(typeof address === "object" && address ? address.port : 0);
            });
          }),
      ),
    );
  } finally {
    await Promise.all(
      servers.map((server) => new Promise((resolve) => server.close(() => resolve(undefined)))),
    );
  }
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
  /**
   * Labels every scraped series gets, as Kubernetes discovery would add them (e.g. the namespace the
   * operator confines a flag's queries to).
   */
  targetLabels?: Record<string, string>;
  /** Rule files; default the project's deploy/prometheus/flagwright-rules.yaml. */
  ruleFiles?: string[];
  /** host:port of the Alertmanagers to notify. */
  alertmanagers?: string[];
  /**
   * The address to listen on (default 127.0.0.1). The node demo uses its pod bridge's own
   * address, which only this machine and its pods reach, so the operator's pods can query it.
   */
  host?: string;
  /** The port to listen on (default: a free one), for a URL that must be known before the start. */
  port?: number;
}

export interface PrometheusHandle extends Supervised {
  url: string;
  port: number;
}

export async function startPrometheus(options: PrometheusOptions = {}): Promise<PrometheusHandle> {
  const bin = await ensureTool("prometheus", stderrLog);
  const dir = mkdtempSync(join(tmpdir(), "flagwright-prometheus-"));
  const port = options.port ?? (await freePort());
  const config = {
    global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
    rule_files: options.ruleFiles ?? [RULE_FILE],
    ...(options.alertmanagers?.length && {
      alerting: { alertmanagers: [{ static_configs: [{ targets: options.alertmanagers }] }] },
    }),
    scrape_configs: [
      {
        job_name: "app",
        static_configs: [
          { targets: options.targets ?? [], ...(options.targetLabels && { labels: options.targetLabels }) },
        ],
      },
    ],
  };
  writeFileSync(join(dir, "prometheus.yml"), stringify(config));
  const host = options.host ?? "127.0.0.1";
  const url = `http://${host}:${port}`;
  const proc = supervise(
    "prometheus",
    bin,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=${host}:${port}`,
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
  const bin = await ensureTool("alertmanager", stderrLog);
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
    bin,
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
export async function promtoolCheckRules(files: string[]): Promise<string> {
  const bin = await ensureTool("promtool", stderrLog);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ["check", "rules", ...files]);
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

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await ensurePrometheusBinaries();
  await ensureTool("promtool", stderrLog);
  console.log([PROMETHEUS_BIN, ALERTMANAGER_BIN, PROMTOOL_BIN].join("\n"));
}
