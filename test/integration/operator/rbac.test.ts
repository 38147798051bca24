// The operator running as a ServiceAccount bound to exactly deploy/rbac.yaml: it does its whole
// job (list/watch, ConfigMaps, status, events, lease), and without any one rule it refuses to
// start, naming the missing permission.
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { flagManifest } from "../../fixtures/invalid-flags.js";
import { clients, kubeConfig, kubectl, testNamespace } from "../../support/kube.js";
import { startOperator } from "../../support/operator.js";
import { waitFor } from "../../support/wait.js";

type Doc = {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: unknown[];
  roleRef?: { name: string };
  subjects?: { namespace?: string }[];
};

/** deploy/rbac.yaml moved into the test's namespace, with cluster-scoped names made unique. */
function rbacDocs(systemNamespace: string, suffix: string): Doc[] {
  const text = readFileSync(new URL("../../../deploy/rbac.yaml", import.meta.url), "utf8");
  return parseAllDocuments(text).map((d) => {
    const doc = d.toJS() as Doc;
    if (doc.metadata.namespace) doc.metadata.namespace = systemNamespace;
    if (doc.kind === "ClusterRole" || doc.kind === "ClusterRoleBinding") doc.metadata.name += `-${suffix}`;
    if (doc.kind === "ClusterRoleBinding" && doc.roleRef) doc.roleRef.name += `-${suffix}`;
    for (const subject of doc.subjects ?? []) subject.namespace = systemNamespace;
    return doc;
  });
}

const applyDocs = (docs: Doc[]) => kubectl(["apply", "-f", "-"], docs.map((d) => stringify(d)).join("---\n"));

describe("operator with the deploy/ RBAC only", () => {
  let system: Awaited<ReturnType<typeof testNamespace>>;
  let apps: Awaited<ReturnType<typeof testNamespace>>;
  let docs: Doc[];
  let kubeconfigPath: string;

  beforeAll(async () => {
    system = await testNamespace("fw-system");
    apps = await testNamespace("rbac-apps");
    docs = rbacDocs(system.name, system.name);
    await applyDocs(docs);
    const token = (
      await kubectl(["create", "token", "flagwright-operator", "-n", system.name, "--duration=1h"])
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
    kubeconfigPath = join(tmpdir(), `flagwright-sa-${system.name}.kubeconfig`);
    writeFileSync(kubeconfigPath, kc.exportConfig(), { mode: 0o600 });
  });
  afterAll(async () => {
    const clusterScoped = docs.filter((d) => d.kind.startsWith("Cluster"));
    await kubectl(
      ["delete", "--ignore-not-found", "-f", "-"],
      clusterScoped.map((d) => stringify(d)).join("---\n"),
    );
    await apps?.remove();
    await system?.remove();
  });

  const args = () => [
    "--namespaces",
    apps.name,
    "--leader-elect",
    "--leader-election-namespace",
    system.name,
  ];

  it("projects, writes status, records events and holds the lease as the ServiceAccount", async () => {
    const operator = await startOperator(args(), { kubeconfig: kubeconfigPath });
    try {
      await kubectl(
        ["apply", "-n", apps.name, "-f", "-"],
        stringify(flagManifest("rbac-flag", { enabled: true, rollout: { percent: 40 } })),
      );
      await kubectl(
        ["apply", "-n", apps.name, "-f", "-"],
        stringify(flagManifest("rbac-dup", { key: "rbac-flag", enabled: true })),
      );
      const { core, custom } = clients();
      await waitFor(
        async () =>
          (await core.readNamespacedConfigMap({ name: "flagwright-flags", namespace: apps.name })).data?.[
            "flags.json"
          ]?.includes('"rbac-flag"'),
        { timeoutMs: 10_000, what: "ConfigMap written by the ServiceAccount" },
      );
      await waitFor(
        async () =>
          (
            await custom.getNamespacedCustomObject({
              group: "flagwright.dev",
              version: "v1alpha1",
              namespace: apps.name,
              plural: "featureflags",
              name: "rbac-flag",
            })
          ).status?.phase === "Completed",
        { what: "status written by the ServiceAccount" },
      );
      // The duplicate key is a Warning event on the second flag.
      await waitFor(
        async () =>
          (await core.listNamespacedEvent({ namespace: apps.name })).items.some(
            (e) => e.reason === "DuplicateKey",
          ),
        { what: "an Event recorded by the ServiceAccount" },
      );
      const lease = JSON.parse(
        await kubectl(["get", "lease", "flagwright-operator", "-n", system.name, "-o", "json"]),
      );
      expect(lease.spec.holderIdentity).toBe(operator.identity);
      expect(operator.logs.filter((l) => (l.level as number) >= 50)).toEqual([]);
    } catch (error) {
      console.error(operator.logs.slice(-20));
      throw error;
    } finally {
      await operator.stop();
    }
  });

  it("refuses to start without any one rule, naming the missing permission", async () => {
    const roles = docs.filter((d) => d.kind === "ClusterRole" || d.kind === "Role");
    for (const role of roles) {
      const rules = role.rules ?? [];
      for (let i = 0; i < rules.length; i++) {
        const rule = rules[i] as { resources: string[] };
        await applyDocs([{ ...role, rules: rules.filter((_, j) => j !== i) }]);
        try {
          const started = await startOperator(args(), { kubeconfig: kubeconfigPath }).then(
            async (op) => {
              await op.stop();
              return true;
            },
            (error: Error) => error.message,
          );
          expect(started, `started without ${role.kind} rule ${rule.resources}`).not.toBe(true);
          expect(started).toContain("operator exited 1");
          expect(started).toContain("MissingPermissions");
          expect(started).toContain(rule.resources[0]);
        } finally {
          await applyDocs([role]);
        }
      }
    }
  });
});
