// `npm run cluster`: a real local Kubernetes control plane in the foreground, with Flagwright's
// CRDs installed. The first two stdout lines are the `export` lines to paste into a shell;
// progress goes to stderr. Ctrl-C (SIGINT) or SIGTERM stops it and removes everything it made.
import { parseArgs } from "node:util";
import { ensureClusterBinaries, installCrds, kubectl, startCluster } from "../test/cluster/cluster.js";

const usage = `Usage: npm run cluster [-- OPTIONS]

Starts kube-apiserver with embedded etcd on 127.0.0.1 (built from Go modules on first use and
cached under ~/.cache/flagwright), installs the FeatureFlag CRD and prints:
  export KUBECONFIG=<path>
  export PATH=<folder with the matching kubectl>:$PATH

Options:
  --examples     also apply examples/ once the CRD is established
  --build-only   build (or find cached) binaries and exit
  -h, --help     show this help`;

const { values } = parseArgs({
  options: {
    examples: { type: "boolean", default: false },
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
const cluster = await startCluster({ log });
let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  log(`${signal}: stopping the control plane...`);
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
