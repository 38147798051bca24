// `npm run cluster`: a real local Kubernetes control plane in the foreground, with Flagwright's
// CRDs installed. The first two stdout lines are the `export` lines to paste into a shell;
// progress goes to stderr. Ctrl-C (SIGINT) or SIGTERM stops it and removes everything it made.
import { parseArgs } from "node:util";
import {
  ensureClusterBinaries,
  installCrds,
  kubectl,
  type RunningCluster,
  startCluster,
} from "../test/cluster/cluster.js";
import { cleanUpNode, startNode } from "../test/cluster/node.js";

const usage = `Usage: npm run cluster [-- OPTIONS]

Starts kube-apiserver with embedded etcd on 127.0.0.1 (built from Go modules on first use and
cached under ~/.cache/flagwright), installs the FeatureFlag CRD and prints:
  export KUBECONFIG=<path>
  export PATH=<folder with the matching kubectl>:$PATH

With --node, also a real single node on this machine (root only; one at a time): Debian's
containerd and runc, a CNI bridge, and kubelet, kube-proxy, kube-controller-manager and
kube-scheduler (built into the same binary as the control plane). Stopping it removes the
bridge, iptables chains, mounts and containers and restores the sysctls it changed; a start
that finds a crashed run's leftovers removes them first.

Options:
  --node         run pods: a real node beside the control plane
  --examples     also apply examples/ once the CRD is established
  --build-only   build (or find cached) binaries and exit
  -h, --help     show this help`;

const { values } = parseArgs({
  options: {
    examples: { type: "boolean", default: false },
    node: { type: "boolean", default: false },
    "build-only": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}

const log = (line: string) => console.error(`[cluster] ${line}`);

if (values["build-only"]) {
  const bins = await ensureClusterBinaries(log);
  log(`binaries in ${bins.binDir}`);
  process.exit(0);
}

const started = Date.now();
let cluster: RunningCluster | undefined;
let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  if (!cluster) {
    // Interrupted while starting: what the node changed so far is recorded; remove it.
    log(`${signal} while starting: cleaning up...`);
    if (values.node) await cleanUpNode(log);
    process.exit(1);
  }
  log(`${signal}: stopping the ${values.node ? "node and the " : ""}control plane...`);
  await cluster.stop();
  log("stopped");
  process.exit(0);
};
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
// npm does not pass SIGTERM on to its script; when npm (our parent) goes, so do we.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void shutdown("parent exited");
}, 500).unref();
cluster = values.node ? await startNode({ log }) : await startCluster({ log });

try {
  await installCrds(cluster);
  console.log(`export KUBECONFIG=${cluster.kubeconfig}`);
  console.log(`export PATH=${cluster.binDir}:$PATH`);
  log(
    `API server ${cluster.server} ready in ${((Date.now() - started) / 1000).toFixed(1)} s with the FeatureFlag CRD`,
  );
  if (values.examples) {
    process.stderr.write(await kubectl(cluster, ["apply", "-f", "examples/"]));
  }
  log("running; press Ctrl-C to stop");
} catch (error) {
  log(`failed: ${(error as Error).message}`);
  await cluster.stop();
  process.exit(1);
}
