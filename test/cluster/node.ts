// A real single-node cluster on this machine: the control plane of cluster.ts plus Debian's
// containerd and runc, the CNI bridge plugin, and kubelet, kube-proxy, kube-controller-manager and
// kube-scheduler run from the same multi-call binary (node.go). Pods run as real containers in
// network namespaces on a private bridge; the operator and sidecars reach the API server through
// the `kubernetes` Service (KUBERNETES_SERVICE_HOST), so no cluster DNS is started.
//
// Needs root and changes host networking (a bridge, iptables chains, sysctls, mounts): only one
// node cluster may run on a machine at a time. Everything it changes is recorded under STATE_DIR
// before it is changed, and `cleanUpNode` (run by stop(), and by the next start when a crashed
// run left something behind) puts the machine back as it was.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { hostname, networkInterfaces } from "node:os";
import { join } from "node:path";
import { waitFor } from "../support/wait.js";
import { cacheRoot, type RunningCluster, runKubectl, startCluster } from "./cluster.js";

/** Everything the node keeps while it runs (tmpfs: a reboot clears it too). */
export const STATE_DIR = "/run/flagwright-node";
const CONTAINERD_SOCKET = join(STATE_DIR, "containerd", "containerd.sock");
const RUNC_ROOT = join(STATE_DIR, "runc");
const KUBELET_ROOT = join(STATE_DIR, "kubelet");
const CNI_CONF_DIR = join(STATE_DIR, "net.d");
const BRIDGE = "fwnode0";
export const POD_SUBNET = "10.244.0.0/24";
export const SERVICE_SUBNET = "10.0.0.0/24";
/**
 * The bridge's own address in the pod network (host-local's gateway: the subnet's first), there
 * once the first pod runs: a server of this machine that pods must reach listens here, which
 * only this machine and its pods can reach.
 */
export const POD_GATEWAY = "10.244.0.1";
/** Host settings kubelet and the pod network change; saved first and restored on clean-up. */
const SYSCTLS = [
  "net/ipv4/ip_forward",
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
];
/** Image store: a cache like the Go builds, so imported images survive between runs. */
const containerdRoot = () => join(cacheRoot(), "node-containerd");

type Log = (line: string) => void;

export interface RunningNode extends RunningCluster {
  /**
   * Stops everything and puts the machine back; `onMachineClean` runs after that and before
   * another node run may take the machine.
   */
  stop(onMachineClean?: () => void): Promise<void>;
  nodeName: string;
  /** The machine's own address, which the node registers and the API server advertises. */
  nodeIp: string;
  /** Imports an image from podman's storage into the node's containerd (`ctr images import`). */
  importImage(image: string): Promise<void>;
  /** `ctr` against the node's containerd. */
  ctr(args: string[]): Promise<string>;
}

interface SavedState {
  sysctls: Record<string, string>;
  /** cpu.shares of PODS_CPU_CGROUP before the start, when the node raised it. */
  podsCpuShares?: string;
  /** `nft list tables` before the start: iptables-nft tables the node's rules created go again. */
  nftTables: string[];
  netns: string[];
  pids: number[];
}

const statePath = () => join(STATE_DIR, "saved.json");

/**
 * The cgroup (v1 cpu controller) containerd puts every container of the node in. By default it
 * weighs as much as one busy process of this machine: with the tests' other work running, all
 * pods together got a few percent of the CPU (a sidecar requesting 10m, one request in 200, took
 * over 2 s to answer). A dedicated node's pods own the machine; here they get the weight of 8 busy
 * processes, and their own requests divide it among them as on any node.
 */
const PODS_CPU_CGROUP = "/sys/fs/cgroup/cpu/k8s.io";
const PODS_CPU_SHARES = "8192";

/** Whether this machine can run the node (root, and the Debian packages .ci/run installs). */
export function nodeUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "the node cluster needs root (containerd, kubelet, iptables)";
  const missing = ["containerd", "runc", "ctr", "iptables", "nft", "podman"].filter(
    (tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0,
  );
  if (!existsSync("/usr/lib/cni/bridge")) missing.push("containernetworking-plugins");
  if (!existsSync("/bin/busybox")) missing.push("busybox-static");
  if (missing.length) return `not installed: ${missing.join(", ")} (.ci/run installs them)`;
  return undefined;
}

/** The machine's own IPv4 address on its default-route interface. */
function machineAddress(): string {
  const route = spawnSync("ip", ["-4", "route", "show", "default"], { encoding: "utf8" }).stdout;
  const device = /dev (\S+)/.exec(route)?.[1];
  const address = (device ? networkInterfaces()[device] : undefined)?.find((a) => a.family === "IPv4");
  if (!address) throw new Error(`no IPv4 address on the default-route interface (${device ?? "none"})`);
  return address.address;
}

function sh(command: string[], allowFailure = true): { code: number | null; stdout: string; stderr: string } {
  const [bin, ...args] = command as [string, ...string[]];
  const result = spawnSync(bin, args, { encoding: "utf8" });
  if (!allowFailure && result.status !== 0)
    throw new Error(`${command.join(" ")} failed: ${result.stderr || result.error?.message}`);
  return { code: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function pidsWhoseCommandLineHas(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(needle)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids.filter((pid) => pid !== process.pid);
}

async function killAndWait(
  pids: number[],
  signal: NodeJS.Signals = "SIGTERM",
  graceMs = 10_000,
): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + graceMs;
  while (pids.some(processAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids.filter(processAlive)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/**
 * iptables rules and chains that kubelet and kube-proxy add (KUBE-*, in every table, v4 and v6).
 * Other CNI-* chains on the machine belong to podman's networks and are left alone: the node's
 * bridge configuration adds none.
 */
function removeKubernetesChains(): void {
  for (const tool of ["iptables", "ip6tables"]) {
    const saved = sh([`${tool}-save`]).stdout;
    let table = "";
    const chains = new Map<string, string[]>();
    const jumps: { table: string; rule: string }[] = [];
    for (const line of saved.split("\n")) {
      if (line.startsWith("*")) table = line.slice(1);
      else if (line.startsWith(":")) {
        const chain = line.slice(1).split(" ")[0] ?? "";
        if (chain.startsWith("KUBE-")) chains.set(table, [...(chains.get(table) ?? []), chain]);
      } else if (line.startsWith("-A ") && / -j KUBE-/.test(line) && !line.startsWith("-A KUBE-")) {
        jumps.push({ table, rule: line.slice(3) });
      }
    }
    for (const { table: t, rule } of jumps) sh([tool, "-w", "-t", t, "-D", ...splitRule(rule)]);
    for (const [t, names] of chains) {
      for (const chain of names) sh([tool, "-w", "-t", t, "-F", chain]);
      for (const chain of names) sh([tool, "-w", "-t", t, "-X", chain]);
    }
  }
}

/** Splits an iptables-save rule into arguments, keeping quoted comments whole. */
function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? "");
}

function mountsUnder(prefixes: string[]): string[] {
  return readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((line) => (line.split(" ")[1] ?? "").replace(/\\040/g, " "))
    .filter((mount) => prefixes.some((p) => mount === p || mount.startsWith(`${p}/`)))
    .sort((a, b) => b.length - a.length);
}

/**
 * Puts the machine back as it was before a node started: its processes and containers stopped,
 * mounts, network namespaces, the bridge and the iptables chains removed, sysctls restored.
 * Safe to run when nothing is left (it then changes nothing).
 */
export async function cleanUpNode(log: Log = () => {}): Promise<void> {
  const saved: SavedState | undefined = existsSync(statePath())
    ? JSON.parse(readFileSync(statePath(), "utf8"))
    : undefined;
  // The node's own processes first (kubelet would restart containers), then the containers.
  const ours = (saved?.pids ?? []).filter(processAlive);
  await killAndWait(ours);
  // The runc shim keeps one runc root per containerd namespace under RUNC_ROOT.
  for (const namespaceRoot of existsSync(RUNC_ROOT)
    ? readdirSync(RUNC_ROOT).map((n) => join(RUNC_ROOT, n))
    : []) {
    for (const id of sh(["runc", "--root", namespaceRoot, "list", "--quiet"])
      .stdout.split("\n")
      .filter(Boolean)) {
      sh(["runc", "--root", namespaceRoot, "delete", "--force", id]);
    }
  }
  await killAndWait(pidsWhoseCommandLineHas(CONTAINERD_SOCKET));
  // kube-proxy's own clean-up removes its chains in iptables and nftables modes.
  const binaryFile = join(STATE_DIR, "binary");
  const binary = existsSync(binaryFile) ? readFileSync(binaryFile, "utf8") : "";
  if (binary && existsSync(binary)) sh([binary, "kube-proxy", "--cleanup"]);
  removeKubernetesChains();
  if (saved) {
    const before = new Set(saved.nftTables);
    for (const table of nftTables().filter((t) => !before.has(t))) {
      // Only tables left empty: a table someone else filled in the meantime stays.
      if (
        !/\n\s+(ip|ip6|meta|counter|jump|goto|tcp|udp|mark|ct|fib)\b/.test(
          sh(["nft", "list", "table", ...table.split(" ")]).stdout,
        )
      )
        sh(["nft", "delete", "table", ...table.split(" ")]);
    }
  }
  for (const mount of mountsUnder([STATE_DIR, containerdRoot()])) {
    sh(["umount", "--lazy", mount]);
  }
  const netnsBefore = new Set(saved?.netns ?? []);
  for (const netns of listNetns()) {
    if (netns.startsWith("cni-") && !netnsBefore.has(netns)) sh(["ip", "netns", "delete", netns]);
  }
  if (sh(["ip", "link", "show", BRIDGE]).code === 0) sh(["ip", "link", "delete", BRIDGE]);
  for (const link of veths()) sh(["ip", "link", "delete", link]);
  if (saved?.podsCpuShares && existsSync(PODS_CPU_CGROUP)) {
    writeFileSync(join(PODS_CPU_CGROUP, "cpu.shares"), saved.podsCpuShares);
  }
  for (const [key, value] of Object.entries(saved?.sysctls ?? {})) {
    try {
      writeFileSync(`/proc/sys/${key}`, value);
    } catch (error) {
      log(`could not restore ${key}=${value}: ${(error as Error).message}`);
    }
  }
  rmSync(STATE_DIR, { recursive: true, force: true });
}

/** "family name" of every nftables table (the iptables-nft tables among them). */
export function nftTables(): string[] {
  return sh(["nft", "list", "tables"])
    .stdout.split("\n")
    .map((line) => line.replace(/^table /, "").trim())
    .filter(Boolean);
}

function listNetns(): string[] {
  return existsSync("/run/netns") ? readdirSync("/run/netns") : [];
}

/** veth ends left on the node's bridge (the bridge's deletion normally takes them along). */
function veths(): string[] {
  const out = sh(["ip", "-o", "link", "show", "master", BRIDGE]).stdout;
  return [...out.matchAll(/^\d+: ([^@:]+)/gm)].map((m) => m[1] ?? "").filter(Boolean);
}

/** True when a node (running or crashed) left state on this machine. */
export function nodeLeftovers(): boolean {
  return existsSync(STATE_DIR) || sh(["ip", "link", "show", BRIDGE]).code === 0;
}

function saveState(state: SavedState): void {
  writeFileSync(statePath(), JSON.stringify(state));
}

function containerdConfig(): string {
  return `version = 2
root = "${containerdRoot()}"
state = "${join(STATE_DIR, "containerd-state")}"
[grpc]
  address = "${CONTAINERD_SOCKET}"
[ttrpc]
  address = "${CONTAINERD_SOCKET}.ttrpc"
[debug]
  address = "${CONTAINERD_SOCKET}.debug"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "${PAUSE_IMAGE}"
    # No CAP_SYS_RESOURCE here: the containers' oom_score_adj may not go below containerd's.
    restrict_oom_score_adj = true
    enable_unprivileged_ports = false
    enable_unprivileged_icmp = false
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          BinaryName = "/usr/sbin/runc"
          Root = "${RUNC_ROOT}"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "${CNI_CONF_DIR}"
  [plugins."io.containerd.internal.v1.opt"]
    path = "${join(STATE_DIR, "opt")}"
`;
}

/** The pod network: one bridge, addresses from host-local IPAM, no masquerading (traffic stays here). */
function cniConfig(): string {
  return JSON.stringify({
    cniVersion: "0.4.0",
    name: "flagwright",
    plugins: [
      {
        type: "bridge",
        bridge: BRIDGE,
        isGateway: true,
        ipMasq: false,
        // A pod reaching its own Service address is sent back to itself.
        hairpinMode: true,
        ipam: {
          type: "host-local",
          dataDir: join(STATE_DIR, "ipam"),
          ranges: [[{ subnet: POD_SUBNET }]],
          routes: [{ dst: "0.0.0.0/0" }],
        },
      },
    ],
  });
}

function kubeletConfig(caFile: string, nodeIp: string): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://${CONTAINERD_SOCKET}
cgroupDriver: cgroupfs
failCgroupV1: false
# This machine's cgroup v1 and missing CAP_SYS_RESOURCE: no QoS cgroups, no allocatable enforcement.
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
oomScoreAdj: 0
readOnlyPort: 0
address: ${nodeIp}
healthzBindAddress: 127.0.0.1
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: ${caFile}}
authorization: {mode: AlwaysAllow}
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
clusterDomain: cluster.local
resolvConf: ""
serializeImagePulls: false
podLogsDir: ${join(STATE_DIR, "pod-logs")}
# Pods are started and stopped within seconds of each other in the tests.
syncFrequency: 10s
fileCheckFrequency: 5s
`;
}

function kubeProxyConfig(kubeconfig: string, nodeName: string): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: ${POD_SUBNET}
hostnameOverride: ${nodeName}
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clientConnection:
  kubeconfig: ${kubeconfig}
# Leave the host's conntrack settings as they are.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  localhostNodePorts: false
`;
}

export const PAUSE_IMAGE = "localhost/flagwright-pause:2";

/**
 * The sandbox image: busybox-static's `sleep`, as small and static as the upstream pause. Written
 * as a docker-archive by hand (one layer, a config, a manifest) and imported straight into
 * containerd: no podman, whose storage lock other builds on the machine may hold for minutes.
 */
async function ensurePauseImage(node: Pick<RunningNode, "ctr">, log: Log): Promise<void> {
  const listed = await node.ctr(["images", "list", "--quiet"]);
  if (listed.split("\n").includes(PAUSE_IMAGE)) return;
  log(`building ${PAUSE_IMAGE} from /bin/busybox...`);
  const dir = join(STATE_DIR, "pause-build");
  mkdirSync(join(dir, "rootfs"), { recursive: true });
  sh(["cp", "/bin/busybox", join(dir, "rootfs", "busybox")], false);
  sh(
    [
      "tar",
      "--create",
      "--file",
      join(dir, "layer.tar"),
      "--directory",
      join(dir, "rootfs"),
      "--numeric-owner",
      "--owner=0",
      "--group=0",
      "busybox",
    ],
    false,
  );
  const diffId = createHash("sha256")
    .update(readFileSync(join(dir, "layer.tar")))
    .digest("hex");
  const config = {
    architecture: "amd64",
    os: "linux",
    config: { Entrypoint: ["/busybox", "sleep", "2147483647"], User: "65535:65535" },
    rootfs: { type: "layers", diff_ids: [`sha256:${diffId}`] },
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  writeFileSync(
    join(dir, "manifest.json"),
    JSON.stringify([{ Config: "config.json", RepoTags: [PAUSE_IMAGE], Layers: ["layer.tar"] }]),
  );
  sh(
    [
      "tar",
      "--create",
      "--file",
      join(dir, "image.tar"),
      "--directory",
      dir,
      "manifest.json",
      "config.json",
      "layer.tar",
    ],
    false,
  );
  await node.ctr(["images", "import", join(dir, "image.tar")]);
  rmSync(dir, { recursive: true, force: true });
}

/** Held (a directory naming its owner's pid) by the one process running a node on this machine. */
const LOCK_DIR = "/run/flagwright-node.lock";

/**
 * Takes the machine's node lock, waiting while a live process holds it (a dead owner's lock is
 * taken over: its leftovers are cleaned up by the start). Without it a second run would take
 * the first one's node for a crash's leftovers and tear it down.
 */
async function acquireNodeLock(log: Log, timeoutMs = 30 * 60_000): Promise<() => void> {
  const owner = join(LOCK_DIR, "pid");
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(owner, String(process.pid));
      return () => rmSync(LOCK_DIR, { recursive: true, force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = Number(existsSync(owner) ? readFileSync(owner, "utf8") : Number.NaN);
    // A lock without a pid is one being written right now, or one whose writer died at once.
    if (Number.isInteger(holder) && !processAlive(holder)) {
      log(`the node lock's owner (pid ${holder}) is gone: taking the lock over`);
      rmSync(LOCK_DIR, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`another node run (pid ${holder}) has held ${LOCK_DIR} for ${timeoutMs / 60_000} min`);
    }
    if (!told && Number.isInteger(holder)) {
      log(`another node run (pid ${holder}) is using this machine: waiting for it to stop`);
      told = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

/**
 * Starts containerd, the control plane (ServiceAccount admission on, advertised on the machine's
 * address), kubelet, kube-proxy, kube-controller-manager and kube-scheduler, and resolves once
 * the node is Ready and the `default` ServiceAccount exists.
 */
export async function startNode(
  options: {
    log?: Log;
    /** Called once the machine is this run's (lock taken, leftovers removed), before any change. */
    onMachineClean?: () => void;
  } = {},
): Promise<RunningNode> {
  const log = options.log ?? (() => {});
  const why = nodeUnavailable();
  if (why) throw new Error(`cannot start the node: ${why}`);
  const releaseLock = await acquireNodeLock(log);
  try {
    if (nodeLeftovers()) {
      log(`a previous node left state behind (${STATE_DIR}, bridge ${BRIDGE}): cleaning it up first`);
      await cleanUpNode(log);
    }
    options.onMachineClean?.();
  } catch (error) {
    releaseLock();
    throw error;
  }
  const started = Date.now();
  mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
  const sysctls: Record<string, string> = {};
  for (const key of SYSCTLS) {
    if (existsSync(`/proc/sys/${key}`)) sysctls[key] = readFileSync(`/proc/sys/${key}`, "utf8").trim();
  }
  const state: SavedState = { sysctls, nftTables: nftTables(), netns: listNetns(), pids: [] };
  saveState(state);

  const nodeIp = machineAddress();
  const nodeName = hostname().toLowerCase();
  const logDir = join(cacheRoot(), "logs", `node-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  mkdirSync(logDir, { recursive: true });
  const children: ChildProcess[] = [];
  const spawnLogged = (name: string, command: string[]): ChildProcess => {
    const [bin, ...args] = command as [string, ...string[]];
    // Each in its own process group, recorded before it can change anything, for the clean-up.
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
    const out = createWriteStream(join(logDir, `${name}.log`));
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
    if (child.pid) state.pids.push(child.pid);
    saveState(state);
    children.push(child);
    return child;
  };

  let cluster: RunningCluster | undefined;
  const stop = async (onMachineClean?: () => void) => {
    try {
      await cleanUpNode(log);
      await cluster?.stop();
      onMachineClean?.();
    } finally {
      releaseLock();
    }
  };
  try {
    mkdirSync(CNI_CONF_DIR, { recursive: true });
    writeFileSync(join(CNI_CONF_DIR, "10-flagwright.conflist"), cniConfig());
    writeFileSync(join(STATE_DIR, "containerd.toml"), containerdConfig());
    writeFileSync("/proc/sys/net/ipv4/ip_forward", "1");
    if (existsSync("/sys/fs/cgroup/cpu/cpu.shares")) {
      mkdirSync(PODS_CPU_CGROUP, { recursive: true });
      state.podsCpuShares = readFileSync(join(PODS_CPU_CGROUP, "cpu.shares"), "utf8").trim();
      saveState(state);
      writeFileSync(join(PODS_CPU_CGROUP, "cpu.shares"), PODS_CPU_SHARES);
    }
    spawnLogged("containerd", ["containerd", "--config", join(STATE_DIR, "containerd.toml")]);

    cluster = await startCluster({
      log,
      apiserverArgs: [
        "--bind-address=0.0.0.0",
        `--advertise-address=${nodeIp}`,
        // The `kubernetes` Service's endpoint is this apiserver's address, kept by its lease.
        "--endpoint-reconciler-type=lease",
        // Admission webhooks are called at their Service's pod addresses (no cluster DNS here).
        "--enable-aggregator-routing=true",
        // Pods get ServiceAccount tokens (the plain control plane has no controller to create them).
        "--disable-admission-plugins=",
      ],
    });
    const running = cluster;
    writeFileSync(join(STATE_DIR, "binary"), running.clusterBin);
    const caFile = join(running.dir, "pki", "ca.crt");
    writeFileSync(join(STATE_DIR, "kubelet.yaml"), kubeletConfig(caFile, nodeIp));
    writeFileSync(join(STATE_DIR, "kube-proxy.yaml"), kubeProxyConfig(running.kubeconfig, nodeName));

    const ctr = async (args: string[]) => {
      const result = sh(["ctr", "--address", CONTAINERD_SOCKET, "--namespace", "k8s.io", ...args]);
      if (result.code !== 0) throw new Error(`ctr ${args.join(" ")} failed: ${result.stderr.trim()}`);
      return result.stdout;
    };
    const importImage = async (image: string) => {
      const { PODMAN } = await import("../../scripts/image.js");
      const tar = join(STATE_DIR, "image.tar");
      const began = Date.now();
      sh([...PODMAN, "save", "--format", "docker-archive", "--output", tar, image], false);
      await ctr(["images", "import", "--no-unpack", tar]);
      rmSync(tar, { force: true });
      log(`imported ${image} into the node's containerd in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    };
    await waitFor(
      async () =>
        existsSync(CONTAINERD_SOCKET) && sh(["ctr", "--address", CONTAINERD_SOCKET, "version"]).code === 0,
      {
        timeoutMs: 30_000,
        what: `containerd to answer (its log: ${logDir}/containerd.log)`,
      },
    );
    await ensurePauseImage({ ctr }, log);

    const bin = running.clusterBin;
    spawnLogged("kubelet", [
      bin,
      "kubelet",
      `--config=${join(STATE_DIR, "kubelet.yaml")}`,
      `--kubeconfig=${running.kubeconfig}`,
      `--root-dir=${KUBELET_ROOT}`,
      `--node-ip=${nodeIp}`,
      `--hostname-override=${nodeName}`,
    ]);
    spawnLogged("kube-proxy", [bin, "kube-proxy", `--config=${join(STATE_DIR, "kube-proxy.yaml")}`]);
    spawnLogged("kube-controller-manager", [
      bin,
      "kube-controller-manager",
      `--kubeconfig=${running.kubeconfig}`,
      "--leader-elect=false",
      `--service-account-private-key-file=${join(running.dir, "pki", "sa.key")}`,
      `--root-ca-file=${caFile}`,
      "--use-service-account-credentials=false",
      "--secure-port=0",
      `--cluster-cidr=${POD_SUBNET}`,
      `--service-cluster-ip-range=${SERVICE_SUBNET}`,
    ]);
    spawnLogged("kube-scheduler", [
      bin,
      "kube-scheduler",
      `--kubeconfig=${running.kubeconfig}`,
      "--leader-elect=false",
      "--secure-port=0",
    ]);

    // A component that exits during the start fails it at once, with the logs' folder named.
    let startDone = false;
    const exitedEarly = new Promise<never>((_, reject) => {
      for (const child of children) {
        child.once("exit", (code, signal) => {
          if (!startDone)
            reject(
              new Error(
                `${child.spawnargs.slice(0, 2).join(" ")} exited (${code ?? signal}); logs in ${logDir}`,
              ),
            );
        });
      }
    });
    exitedEarly.catch(() => {});
    await Promise.race([
      exitedEarly,
      waitFor(
        async () => {
          const ready = await runKubectl(running, [
            "get",
            "node",
            nodeName,
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
          ]);
          const account = await runKubectl(running, ["get", "serviceaccount", "default", "-n", "default"]);
          return ready.stdout === "True" && account.code === 0;
        },
        {
          timeoutMs: 120_000,
          intervalMs: 250,
          what: `node ${nodeName} Ready with a default ServiceAccount (logs in ${logDir})`,
        },
      ),
    ]);
    startDone = true;
    log(
      `node ${nodeName} (${nodeIp}) Ready in ${((Date.now() - started) / 1000).toFixed(1)} s; logs in ${logDir}`,
    );
    return { ...running, stop, nodeName, nodeIp, importImage, ctr };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The process whose executable is `binary` (for tests that check nothing of the node is left). */
export function runningFrom(binary: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/exe`) === binary) pids.push(Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}
