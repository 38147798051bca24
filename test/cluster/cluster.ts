// Builds (once, cached) and runs the real local control plane from test/cluster: kube-apiserver
// with embedded etcd, plus a kubectl from the same Kubernetes module set. Used by vitest's global
// setup, `npm run cluster` and the demo.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

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

/** `$XDG_CACHE_HOME/flagwright` or `~/.cache/flagwright`. */
export function cacheRoot(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "flagwright");
}

/** The build inputs' hash: a change to go.mod, go.sum or the Go sources means a new build. */
function sourceHash(): string {
  const hash = createHash("sha256");
  const files = [
    "go.mod",
    "go.sum",
    ...readdirSync(clusterDir)
      .filter((f) => f.endsWith(".go"))
      .sort(),
  ];
  for (const file of files) {
    hash
      .update(file)
      .update("\0")
      .update(readFileSync(join(clusterDir, file)))
      .update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

function findGo(): string {
  for (const dir of [...(process.env.PATH ?? "").split(delimiter), "/usr/local/go/bin"]) {
    const candidate = join(dir, "go");
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error(
    "Go toolchain not found: install Go 1.26 or newer (apt-get install golang-go, or go.dev/dl) to build the local control plane",
  );
}

/** Returns the cached binaries, building them first if this source hash has none. */
export async function ensureClusterBinaries(log: Log = () => {}): Promise<ClusterBinaries> {
  const binDir = join(cacheRoot(), `cluster-${sourceHash()}`);
  const result = { binDir, clusterBin: join(binDir, "flagwright-cluster"), kubectl: join(binDir, "kubectl") };
  if (existsSync(result.clusterBin) && existsSync(result.kubectl)) return result;

  const go = findGo();
  // Build into a private folder and rename it into place, so a concurrent or interrupted build
  // never leaves a half-written binary where the next run would trust it.
  const staging = `${binDir}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const started = Date.now();
  const targets: [string, string][] = [
    ["flagwright-cluster", "."],
    ["kubectl", "k8s.io/kubernetes/cmd/kubectl"],
  ];
  for (const [name, pkg] of targets) {
    log(`building ${name} (first run only; a cold build takes several minutes)...`);
    const build = spawnSync(go, ["build", "-o", join(staging, name), pkg], {
      cwd: clusterDir,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, CGO_ENABLED: "0" },
    });
    if (build.status !== 0) {
      rmSync(staging, { recursive: true, force: true });
      throw new Error(`go build ${pkg} failed (exit ${build.status ?? build.signal}); see the output above`);
    }
  }
  rmSync(binDir, { recursive: true, force: true });
  renameSync(staging, binDir);
  log(`built the control plane in ${Math.round((Date.now() - started) / 1000)} s, cached in ${binDir}`);
  return result;
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
