// Builds (once, cached) and runs the real local control plane from test/cluster: kube-apiserver
// with embedded etcd, plus a kubectl from the same Kubernetes module set. Used by vitest's global
// setup, `npm run cluster` and the demo.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { cacheRoot, ensureGoBuild } from "../../scripts/go-build.js";

export { cacheRoot };

const clusterDir = fileURLToPath(new URL(".", import.meta.url));
const repoRoot = join(clusterDir, "..", "..");

export interface ClusterBinaries {
  /** Folder holding flagwright-cluster and kubectl. */
  binDir: string;
  clusterBin: string;
  kubectl: string;
}

export interface RunningCluster extends ClusterBinaries {
  kubeconfig: string;
  server: string;
  /** The cluster's data folder (certificates, etcd); removed when it stops. */
  dir: string;
  pid: number;
  /** etcd's client URL (plain HTTP on loopback; its JSON gateway serves /v3/kv/*). */
  etcd: string;
  /** Stops the apiserver and etcd; resolves once the process has exited and its folder is gone. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would: nothing is cleaned up (a `keep` folder restarts the same cluster). */
  kill(): Promise<void>;
}

type Log = (line: string) => void;

/**
 * The Kubernetes version go.mod pins, stamped into every binary as the release build does: without
 * it the API server reports v0.0.0-master and `helm install` refuses charts with a kubeVersion.
 */
export function kubernetesVersionLdflags(): string {
  const goMod = readFileSync(join(clusterDir, "go.mod"), "utf8");
  const version = /^\s*k8s\.io\/kubernetes (v(\d+)\.(\d+)\.\d+\S*)/m.exec(goMod);
  if (!version) throw new Error(`no k8s.io/kubernetes requirement in ${join(clusterDir, "go.mod")}`);
  const [, gitVersion, major, minor] = version;
  return ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]
    .flatMap((pkg) => [
      `-X ${pkg}.gitVersion=${gitVersion}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitTreeState=clean`,
    ])
    .join(" ");
}

/** Returns the cached binaries, building them first if this source hash has none. */
export async function ensureClusterBinaries(log: Log = () => {}): Promise<ClusterBinaries> {
  const ldflags = kubernetesVersionLdflags();
  const binDir = await ensureGoBuild({
    name: "cluster",
    dir: clusterDir,
    targets: [
      // Also the node's kubelet, kube-proxy, controller-manager and scheduler (see node.go).
      { binary: "flagwright-cluster", pkg: ".", ldflags },
      { binary: "kubectl", pkg: "k8s.io/kubernetes/cmd/kubectl", ldflags },
    ],
    log,
  });
  return { binDir, clusterBin: join(binDir, "flagwright-cluster"), kubectl: join(binDir, "kubectl") };
}

/**
 * Starts a control plane and resolves when its API server answers /readyz. The apiserver's own
 * log goes to `logFile` (default: cluster.log in the cache folder). With `dir` and `keep`, a
 * later start with the same `dir` restarts the same cluster (data, certificates and ports).
 * `apiserverArgs` are extra kube-apiserver flags (e.g. --watch-cache=false), for fault tests.
 */
export async function startCluster(
  options: { log?: Log; logFile?: string; dir?: string; keep?: boolean; apiserverArgs?: string[] } = {},
): Promise<RunningCluster> {
  const bins = await ensureClusterBinaries(options.log);
  const logFile = options.logFile ?? newLogFile();
  const logStream = createWriteStream(logFile, { flags: "a" });
  const args = [
    ...(options.dir ? ["--dir", options.dir] : []),
    ...(options.keep ? ["--keep"] : []),
    ...(options.apiserverArgs ?? []).map((arg) => `--apiserver-arg=${arg}`),
  ];
  const child = spawn(bins.clusterBin, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stderr.pipe(logStream);

  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = await new Promise<{
    kubeconfig: string;
    server: string;
    dir: string;
    pid: number;
    etcd: string;
  }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (line) => {
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`unexpected output from flagwright-cluster: ${line}`));
      }
    });
    child.once("exit", (code, signal) =>
      reject(
        new Error(`flagwright-cluster exited (${code ?? signal}) before it was ready; its log: ${logFile}`),
      ),
    );
  });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= stopProcess(child, exited).then(() => {
      logStream.end();
      // The program removes its folder itself; this covers a SIGKILL after the grace period.
      if (!options.keep) rmSync(ready.dir, { recursive: true, force: true });
    });
    return stopping;
  };
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
    logStream.end();
  };
  return { ...bins, ...ready, stop, kill };
}

/** A log file per cluster start under the cache's logs/ folder, keeping the newest 20. */
function newLogFile(): string {
  const dir = join(cacheRoot(), "logs");
  mkdirSync(dir, { recursive: true });
  const old = readdirSync(dir)
    .filter((f) => f.startsWith("cluster-"))
    .sort()
    .slice(0, -19);
  for (const file of old) rmSync(join(dir, file), { force: true });
  return join(dir, `cluster-${new Date().toISOString().replace(/[:.]/g, "-")}-${process.pid}.log`);
}

async function stopProcess(child: ChildProcess, exited: Promise<void>, graceMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs kubectl against the cluster with optional stdin; resolves whatever the exit code. */
export function runKubectl(
  cluster: Pick<RunningCluster, "kubectl" | "kubeconfig">,
  args: string[],
  input?: string,
  env: Record<string, string | undefined> = {},
): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cluster.kubectl, args, {
      env: { ...process.env, KUBECONFIG: cluster.kubeconfig, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

/** `kubectl` against the cluster; rejects with kubectl's stderr on failure. */
export async function kubectl(
  cluster: Pick<RunningCluster, "kubectl" | "kubeconfig">,
  args: string[],
  input?: string,
): Promise<string> {
  const { code, stdout, stderr } = await runKubectl(cluster, args, input);
  if (code !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${stderr.trim()}`);
  return stdout;
}

/** Applies the CRDs in crds/ and waits until the API server reports them Established. */
export async function installCrds(cluster: Pick<RunningCluster, "kubectl" | "kubeconfig">): Promise<void> {
  const crds = join(repoRoot, "crds");
  await kubectl(cluster, ["apply", "--server-side", "--field-manager=flagwright-install", "-f", crds]);
  await kubectl(cluster, ["wait", "--for=condition=Established", "--timeout=60s", "-f", crds]);
}
