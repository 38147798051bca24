// A private control plane for fault tests that crash, restart or compact it (the suite's shared
// one must not be disturbed), with clients that survive its restarts: the data folder keeps the
// certificates, ports and etcd data, so the same kubeconfig works before and after.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { installCrds, kubectl, type RunningCluster, startCluster } from "../../cluster/cluster.js";

export interface PrivateControlPlane {
  readonly cluster: RunningCluster;
  readonly kubeconfig: string;
  readonly etcd: string;
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  kubectl(args: string[], input?: string): Promise<string>;
  /** SIGKILL of the apiserver+etcd process, as a node crash would. */
  crash(): Promise<void>;
  /** Starts it again on the same data (resolves once /readyz answers). */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

export async function startPrivateControlPlane(
  options: { namespaces?: string[]; apiserverArgs?: string[] } = {},
): Promise<PrivateControlPlane> {
  const dir = mkdtempSync(join(tmpdir(), "flagwright-faults-"));
  const start = () => startCluster({ dir, keep: true, apiserverArgs: options.apiserverArgs });
  let cluster = await start();
  try {
    await installCrds(cluster);
    for (const ns of options.namespaces ?? []) await kubectl(cluster, ["create", "namespace", ns]);
  } catch (error) {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  return {
    get cluster() {
      return cluster;
    },
    kubeconfig: cluster.kubeconfig,
    etcd: cluster.etcd,
    kc,
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    kubectl: (args, input) => kubectl(cluster, args, input),
    crash: () => cluster.kill(),
    async restart() {
      cluster = await start();
    },
    async dispose() {
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
