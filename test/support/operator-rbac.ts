// The operator's deploy/rbac.yaml applied for one test: moved into the test's system namespace,
// cluster-scoped names made unique, and a kubeconfig acting as its ServiceAccount.
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments, stringify } from "yaml";
import { kubeConfig, kubectl } from "./kube.js";

type Doc = {
  kind: string;
  metadata: { name: string; namespace?: string };
  roleRef?: { name: string };
  subjects?: { namespace?: string }[];
};

export interface OperatorRbac {
  /** A kubeconfig (mode 0600) whose user is the operator's ServiceAccount. */
  kubeconfig: string;
  /** Removes the cluster-scoped objects (the namespaced ones go with the namespace). */
  remove(): Promise<void>;
}

export async function applyOperatorRbac(systemNamespace: string): Promise<OperatorRbac> {
  const text = readFileSync(new URL("../../deploy/rbac.yaml", import.meta.url), "utf8");
  const docs = parseAllDocuments(text).map((d) => {
    const doc = d.toJS() as Doc;
    if (doc.metadata.namespace) doc.metadata.namespace = systemNamespace;
    if (doc.kind === "ClusterRole" || doc.kind === "ClusterRoleBinding")
      doc.metadata.name += `-${systemNamespace}`;
    if (doc.kind === "ClusterRoleBinding" && doc.roleRef) doc.roleRef.name += `-${systemNamespace}`;
    for (const subject of doc.subjects ?? []) subject.namespace = systemNamespace;
    return doc;
  });
  await kubectl(["apply", "-f", "-"], docs.map((d) => stringify(d)).join("---\n"));
  const token = (
    await kubectl(["create", "token", "flagwright-operator", "-n", systemNamespace, "--duration=1h"])
  ).trim();
  const admin = kubeConfig();
  const cluster = admin.getCurrentCluster();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: "flagwright-operator", token }],
    contexts: [{ name: "sa", cluster: cluster?.name, user: "flagwright-operator" }],
    currentContext: "sa",
  });
  const kubeconfig = join(tmpdir(), `flagwright-sa-${systemNamespace}.kubeconfig`);
  writeFileSync(kubeconfig, kc.exportConfig(), { mode: 0o600 });
  return {
    kubeconfig,
    remove: async () => {
      const clusterScoped = docs.filter((d) => d.kind.startsWith("Cluster"));
      await kubectl(
        ["delete", "--ignore-not-found", "-f", "-"],
        clusterScoped.map((d) => stringify(d)).join("---\n"),
      );
    },
  };
}
