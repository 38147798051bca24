// Real Argo CD (v3.2.x, built from the Go module proxy by argocd-build.ts) against the suite's
// control plane: its CRDs from the same module's manifests, a Redis (Debian's redis-server), the
// repo server and the application controller as processes on 127.0.0.1, in a namespace of their
// own with argocd-cm, argocd-secret, the default AppProject and an in-cluster cluster Secret that
// limits the controller to the namespaces a test names (the suite's apiserver is shared, so its
// cluster cache must not watch everything). `stop()` ends the processes and removes the namespace
// and temporary folder; the CRDs stay (cluster-scoped, shared by later runs).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import type { CoreV1Api, CustomObjectsApi, KubernetesObject } from "@kubernetes/client-node";
import { parse } from "yaml";
import { cacheRoot, findGo } from "../../scripts/go-build.js";
import { argocdModuleDir, requireArgocdBinary } from "./argocd-build.js";
import { restrictToLoopback } from "./loopback-firewall.js";
import { freePort } from "./prometheus.js";
import { waitFor } from "./wait.js";

export const ARGO_GROUP = "argoproj.io";
export const ARGO_VERSION = "v1alpha1";
/** What Argo CD calls the cluster it runs in; ARGOCD_FAKE_IN_CLUSTER points it at the kubeconfig. */
export const IN_CLUSTER = "https://kubernetes.default.svc";

/** The fields of an Application the tests read. */
export interface Application extends KubernetesObject {
  spec: Record<string, unknown>;
  status?: {
    sync?: { status?: string; revision?: string };
    health?: { status?: string; message?: string };
    reconciledAt?: string;
    resources?: {
      group?: string;
      kind: string;
      name: string;
      namespace?: string;
      status?: string;
      syncWave?: number;
      health?: { status?: string; message?: string };
    }[];
    operationState?: {
      phase?: string;
      retryCount?: number;
      message?: string;
      startedAt?: string;
      finishedAt?: string;
      operation?: { sync?: { revision?: string } };
      syncResult?: {
        revision?: string;
        resources?: { kind: string; name: string; status?: string; message?: string; syncPhase?: string }[];
      };
    };
    history?: { revision?: string; deployedAt?: string }[];
  };
}

export interface ArgocdHandle {
  /** The namespace Argo CD runs in (its Applications, argocd-cm, AppProject). */
  namespace: string;
  /** Log lines of each process so far (JSON parsed where possible). */
  logs: Record<"controller" | "repoServer", Record<string, unknown>[]>;
  /** The application controller's metrics port (bound on all interfaces, firewalled to loopback). */
  controllerMetricsPort: number;
  getApplication(name: string): Promise<Application>;
  /**
   * Asks the controller to compare with Git now, resolving the branch afresh (the annotation
   * `argocd.argoproj.io/refresh`, which is what Argo CD's Git webhook handler sets).
   */
  refresh(name: string, type?: "normal" | "hard"): Promise<void>;
  stop(): Promise<void>;
}

export interface ArgocdOptions {
  kubeconfig: string;
  kubectl: (args: string[], input?: string) => Promise<string>;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  /** Namespaces the controller may deploy to and watch. */
  destinationNamespaces: string[];
  /** Extra argocd-cm data (e.g. resource customizations). */
  argocdCm?: Record<string, string>;
  log?: (line: string) => void;
}

const run = promisify(execFile);

/** The argo-cd module's folder in the module cache (its manifests/ hold the CRDs). */
async function argocdModuleSource(): Promise<string> {
  const { stdout } = await run(findGo(), ["list", "-m", "-f", "{{.Dir}}", "github.com/argoproj/argo-cd/v3"], {
    cwd: argocdModuleDir,
  });
  const dir = stdout.trim();
  if (!dir) throw new Error("go list did not name the argo-cd module's folder (run the Argo CD build first)");
  return dir;
}

interface Child {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  exited: Promise<void>;
  stop(): Promise<void>;
}

/** Spawns a process whose output goes to `logFile` and, parsed, to `logs`. */
function spawnLogged(command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Child {
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const file = createWriteStream(logFile);
  const logs: Record<string, unknown>[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      file.write(`${line}\n`);
      try {
        logs.push(JSON.parse(line));
      } catch {
        logs.push({ msg: line });
      }
    });
  }
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(killer);
    file.end();
  };
  return { child, logs, exited, stop };
}

/** Waits until `url` answers 200, failing at once with the log's tail if the process exits first. */
async function waitHealthy(proc: Child, url: string, what: string): Promise<void> {
  let gone = false;
  proc.exited.then(() => {
    gone = true;
  });
  await waitFor(
    async () => {
      if (gone) {
        throw new Error(
          `${what} exited: ${proc.logs
            .slice(-5)
            .map((l) => JSON.stringify(l))
            .join("\n")}`,
        );
      }
      const res = await fetch(url).catch(() => undefined);
      return res?.ok === true;
    },
    { timeoutMs: 90_000, intervalMs: 200, what },
  ).catch((error: Error) => {
    // A process that died is the failure to report, not the probe's timeout.
    throw gone
      ? new Error(
          `${what} exited: ${proc.logs
            .slice(-5)
            .map((l) => JSON.stringify(l))
            .join("\n")}`,
        )
      : error;
  });
}

const partOfArgocd = { "app.kubernetes.io/part-of": "argocd" };

export async function startArgocd(options: ArgocdOptions): Promise<ArgocdHandle> {
  const { kubeconfig, kubectl, core, custom, log = () => {} } = options;
  const binary = requireArgocdBinary();
  const source = await argocdModuleSource();
  const crds = ["application-crd.yaml", "appproject-crd.yaml"].map((f) => join(source, "manifests/crds", f));
  await kubectl(["apply", "--server-side", "--force-conflicts", ...crds.flatMap((f) => ["-f", f])]);
  for (const crd of ["applications.argoproj.io", "appprojects.argoproj.io"]) {
    await waitFor(
      async () =>
        (await kubectl([
          "get",
          "crd",
          crd,
          "-o",
          'jsonpath={.status.conditions[?(@.type=="Established")].status}',
        ])) === "True",
      { timeoutMs: 60_000, intervalMs: 200, what: `CRD ${crd} Established` },
    );
  }

  const namespace = `argocd-${Math.random().toString(16).slice(2, 8)}`;
  await core.createNamespace({
    body: { metadata: { name: namespace, labels: { "flagwright.dev/test": "true" } } },
  });
  const dir = mkdtempSync(join(tmpdir(), "flagwright-argocd-"));
  // The processes' logs outlive the run (like the control plane's), for a failure to be read later.
  const logsRoot = join(cacheRoot(), "logs");
  const logDir = join(logsRoot, `argocd-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  mkdirSync(logDir, { recursive: true });
  // The newest ten runs are kept (names sort by start time).
  const runs = readdirSync(logsRoot)
    .filter((name) => name.startsWith("argocd-"))
    .sort();
  for (const old of runs.slice(0, -10)) rmSync(join(logsRoot, old), { recursive: true, force: true });
  const started: Child[] = [];
  let unfirewall = async () => {};
  const stop = async () => {
    for (const proc of started.reverse()) await proc.stop();
    await unfirewall();
    await core.deleteNamespace({ name: namespace }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await core.createNamespacedConfigMap({
      namespace,
      body: {
        metadata: { name: "argocd-cm", labels: { ...partOfArgocd, "app.kubernetes.io/name": "argocd-cm" } },
        data: options.argocdCm ?? {},
      },
    });
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: {
          name: "argocd-secret",
          labels: { ...partOfArgocd, "app.kubernetes.io/name": "argocd-secret" },
        },
        type: "Opaque",
      },
    });
    // The in-cluster cluster, limited to the test's namespaces: with `namespaces` set, Argo CD's
    // cluster cache watches only those (and no cluster-scoped resources).
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: "in-cluster", labels: { "argocd.argoproj.io/secret-type": "cluster" } },
        stringData: {
          name: "in-cluster",
          server: IN_CLUSTER,
          namespaces: options.destinationNamespaces.join(","),
          config: "{}",
        },
      },
    });
    // Argo CD's API server creates the default project on start; it is not run here.
    await custom.createNamespacedCustomObject({
      group: ARGO_GROUP,
      version: ARGO_VERSION,
      namespace,
      plural: "appprojects",
      body: {
        apiVersion: `${ARGO_GROUP}/${ARGO_VERSION}`,
        kind: "AppProject",
        metadata: { name: "default" },
        spec: {
          sourceRepos: ["*"],
          destinations: options.destinationNamespaces.map((ns) => ({ server: IN_CLUSTER, namespace: ns })),
        },
      },
    });

    const redisPort = await freePort();
    const redis = spawnLogged(
      "redis-server",
      ["--bind", "127.0.0.1", "--port", String(redisPort), "--save", "", "--appendonly", "no", "--dir", dir],
      process.env,
      join(logDir, "redis.log"),
    );
    started.push(redis);
    await waitFor(() => redis.logs.some((l) => String(l.msg).includes("Ready to accept connections")), {
      timeoutMs: 30_000,
      what: "redis-server to accept connections",
    });

    const baseEnv = {
      PATH: process.env.PATH,
      HOME: dir,
      TMPDIR: join(dir, "tmp"),
      KUBECONFIG: kubeconfig,
      ARGOCD_FAKE_IN_CLUSTER: "true",
      ARGOCD_GPG_ENABLED: "false",
      // The repo server's Git credential helper socket, private to this instance.
      ARGOCD_ASK_PASS_SOCK: join(dir, "askpass.sock"),
    };
    mkdirSync(baseEnv.TMPDIR, { recursive: true });

    const repoPort = await freePort();
    const repoMetricsPort = await freePort();
    const repoServer = spawnLogged(
      binary,
      [
        "--address",
        "127.0.0.1",
        "--port",
        String(repoPort),
        "--metrics-address",
        "127.0.0.1",
        "--metrics-port",
        String(repoMetricsPort),
        "--disable-tls",
        "--redis",
        `127.0.0.1:${redisPort}`,
        "--loglevel",
        "info",
      ],
      { ...baseEnv, ARGOCD_BINARY_NAME: "argocd-repo-server" },
      join(logDir, "repo-server.log"),
    );
    started.push(repoServer);
    await waitHealthy(repoServer, `http://127.0.0.1:${repoMetricsPort}/healthz`, "the Argo CD repo server");

    // Argo CD binds the controller's metrics on all interfaces (0.0.0.0, not configurable), so a
    // firewall rule, in place before the controller starts, refuses the port on other addresses.
    const controllerMetricsPort = await freePort();
    unfirewall = await restrictToLoopback(controllerMetricsPort);
    const controller = spawnLogged(
      binary,
      [
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        namespace,
        "--repo-server",
        `127.0.0.1:${repoPort}`,
        "--repo-server-plaintext",
        "--redis",
        `127.0.0.1:${redisPort}`,
        "--metrics-port",
        String(controllerMetricsPort),
        // Resource health in the Application's status, as before v3.0, so tests can read it.
        "--persist-resource-health",
        "--self-heal-timeout-seconds",
        "0",
        "--loglevel",
        "info",
      ],
      { ...baseEnv, ARGOCD_BINARY_NAME: "argocd-application-controller" },
      join(logDir, "controller.log"),
    );
    started.push(controller);
    await waitHealthy(
      controller,
      `http://127.0.0.1:${controllerMetricsPort}/healthz`,
      "the Argo CD controller",
    );
    log(`Argo CD up in namespace ${namespace} (logs in ${logDir})`);

    const getApplication = async (name: string) =>
      (await custom.getNamespacedCustomObject({
        group: ARGO_GROUP,
        version: ARGO_VERSION,
        namespace,
        plural: "applications",
        name,
      })) as Application;

    return {
      namespace,
      logs: { controller: controller.logs, repoServer: repoServer.logs },
      controllerMetricsPort,
      getApplication,
      refresh: async (name, type = "normal") => {
        await kubectl([
          "annotate",
          "--overwrite",
          "-n",
          namespace,
          `applications.${ARGO_GROUP}/${name}`,
          `argocd.argoproj.io/refresh=${type}`,
        ]);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The argocd-cm data of deploy/argocd/argocd-cm.yaml (the project's health check), as shipped. */
export function shippedArgocdCm(): Record<string, string> {
  const file = new URL("../../deploy/argocd/argocd-cm.yaml", import.meta.url);
  return (parse(readFileSync(file, "utf8")) as { data: Record<string, string> }).data;
}
