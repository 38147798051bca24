// The operator's RBAC exactly as deploy/rbac.yaml ships it, installed for one test: moved into the
// test's system namespace (cluster-scoped names made unique) and a kubeconfig holding a token of
// its ServiceAccount, so the operator (or a client) runs with those rules and nothing more.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments, stringify } from "yaml";
import { kubeConfig, kubectl } from "./kube.js";

export type RbacDoc = {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: unknown[];
  roleRef?: { name: string };
  subjects?: { namespace?: string }[];
};

/** deploy/rbac.yaml moved into `systemNamespace`, with cluster-scoped names suffixed by `suffix`. */
export function shippedRbacDocs(systemNamespace: string, suffix: string): RbacDoc[] {
  const text = readFileSync(new URL("../../deploy/rbac.yaml", import.meta.url), "utf8");
  return parseAllDocuments(text).map((d) => {
    const doc = d.toJS() as RbacDoc;
    if (doc.metadata.namespace) doc.metadata.namespace = systemNamespace;
    if (doc.kind === "ClusterRole" || doc.kind === "ClusterRoleBinding") doc.metadata.name += `-${suffix}`;
    if (doc.kind === "ClusterRoleBinding" && doc.roleRef) doc.roleRef.name += `-${suffix}`;
    for (const subject of doc.subjects ?? []) subject.namespace = systemNamespace;
    return doc;
  });
}

export const applyRbacDocs = (docs: RbacDoc[]) =>
  kubectl(["apply", "-f", "-"], docs.map((d) => stringify(d)).join("---\n"));

export interface ShippedRbac {
  docs: RbacDoc[];
  /** A kubeconfig (mode 0600) acting as the operator's ServiceAccount. */
  kubeconfigPath: string;
  kc: KubeConfig;
  /** Deletes the cluster-scoped objects and the kubeconfig (the namespace is the caller's). */
  remove(): Promise<void>;
}

/** Installs the shipped RBAC in `systemNamespace` and returns its ServiceAccount's kubeconfig. */
export async function installShippedRbac(systemNamespace: string): Promise<ShippedRbac> {
  const docs = shippedRbacDocs(systemNamespace, systemNamespace);
  await applyRbacDocs(docs);
  const token = (
    await kubectl(["create", "token", "flagwright-operator", "-n", systemNamespace, "--duration=1h"])
  ).trim();
  const cluster = kubeConfig().getCurrentCluster();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: "flagwright-operator", token }],
    contexts: [{ name: "sa", cluster: cluster?.name, user: "flagwright-operator" }],
    currentContext: "sa",
  });
  const kubeconfigPath = join(tmpdir(), `flagwright-sa-${systemNamespace}.kubeconfig`);
  writeFileSync(kubeconfigPath, kc.exportConfig(), { mode: 0o600 });
  return {
    docs,
    kubeconfigPath,
    kc,
    remove: async () => {
      const clusterScoped = docs.filter((d) => d.kind.startsWith("Cluster"));
      await kubectl(
        ["delete", "--ignore-not-found", "-f", "-"],
        clusterScoped.map((d) => stringify(d)).join("---\n"),
      );
      rmSync(kubeconfigPath, { force: true });
    },
  };
}
