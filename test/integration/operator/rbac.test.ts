// The operator running as a ServiceAccount bound to exactly deploy/rbac.yaml: it does its whole
// job (list/watch, ConfigMaps, status, events, lease), and without any one rule it refuses to
// start, naming the missing permission.
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { Watch } from "../../../src/kube/client.js";
import { flagManifest } from "../../fixtures/invalid-flags.js";
import { clients, kubectl, testNamespace } from "../../support/kube.js";
import { startOperator } from "../../support/operator.js";
import { applyRbacDocs, installShippedRbac, type ShippedRbac } from "../../support/shipped-rbac.js";
import { waitFor } from "../../support/wait.js";

/** The HTTP status a request ends with: 200 when it succeeds, the API server's code otherwise. */
const statusOf = (request: Promise<unknown>) =>
  request.then(
    () => 200,
    (error: { code?: number }) => error.code ?? 0,
  );

describe("operator with the deploy/ RBAC only", () => {
  let system: Awaited<ReturnType<typeof testNamespace>>;
  let apps: Awaited<ReturnType<typeof testNamespace>>;
  let rbac: ShippedRbac;
  let kubeconfigPath: string;

  beforeAll(async () => {
    system = await testNamespace("fw-system");
    apps = await testNamespace("rbac-apps");
    rbac = await installShippedRbac(system.name);
    kubeconfigPath = rbac.kubeconfigPath;
  });
  afterAll(async () => {
    await rbac?.remove();
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

  it("manages its own ConfigMap in a tenant namespace and is refused every other ConfigMap", async () => {
    const own = "flagwright-flags";
    const other = "app-settings";
    const namespace = apps.name;
    await kubectl(["create", "configmap", other, "-n", namespace, "--from-literal=secret-ish=1"]);
    const { core } = clients(rbac.kc);
    const ssa = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);
    const apply = (name: string) =>
      core.patchNamespacedConfigMap(
        {
          name,
          namespace,
          body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: { "flags.json": "{}" } },
          fieldManager: "flagwright",
          force: true,
        },
        ssa,
      );
    /** Whether a watch with this field selector is let in (it delivers the object's ADDED event). */
    const watchAdmits = (fieldSelector: string, allNamespaces = false) =>
      new Promise<boolean | number>((resolve) => {
        const path = allNamespaces ? "/api/v1/configmaps" : `/api/v1/namespaces/${namespace}/configmaps`;
        let controller: AbortController | undefined;
        new Watch(rbac.kc)
          .watch(
            path,
            { fieldSelector },
            (type: string, object: { metadata?: { name?: string } }) => {
              if (type === "ADDED" && object.metadata?.name === own) {
                resolve(true);
                controller?.abort();
              }
            },
            (error: unknown) => resolve((error as { statusCode?: number } | null)?.statusCode ?? false),
          )
          .then(
            (c) => {
              controller = c;
            },
            (error: { statusCode?: number }) => resolve(error.statusCode ?? false),
          );
      });

    // Its own: created by server-side apply (whose create check names the object), read, listed
    // and watched by name, patched, deleted.
    expect(await statusOf(apply(own))).toBe(200);
    expect(await statusOf(core.readNamespacedConfigMap({ name: own, namespace }))).toBe(200);
    const listed = await core.listNamespacedConfigMap({ namespace, fieldSelector: `metadata.name=${own}` });
    expect(listed.items.map((cm) => cm.metadata?.name)).toEqual([own]);
    const everywhere = await core.listConfigMapForAllNamespaces({ fieldSelector: `metadata.name=${own}` });
    expect(everywhere.items.map((cm) => cm.metadata?.namespace)).toContain(namespace);
    expect(await watchAdmits(`metadata.name=${own}`)).toBe(true);
    expect(await watchAdmits(`metadata.name=${own}`, true)).toBe(true);
    expect(await statusOf(apply(own))).toBe(200);

    // Any other ConfigMap: no read, list, watch, write or delete, by name or across the namespace.
    expect(await statusOf(core.readNamespacedConfigMap({ name: other, namespace }))).toBe(403);
    expect(await statusOf(apply(other))).toBe(403);
    expect(await statusOf(apply("kube-root-ca.crt"))).toBe(403);
    expect(await statusOf(core.deleteNamespacedConfigMap({ name: other, namespace }))).toBe(403);
    expect(
      await statusOf(core.listNamespacedConfigMap({ namespace, fieldSelector: `metadata.name=${other}` })),
    ).toBe(403);
    expect(await statusOf(core.listNamespacedConfigMap({ namespace }))).toBe(403);
    expect(await statusOf(core.listConfigMapForAllNamespaces({}))).toBe(403);
    expect(await watchAdmits(`metadata.name=${other}`)).toBe(403);
    expect(await watchAdmits("")).toBe(403);
    expect(await statusOf(core.deleteCollectionNamespacedConfigMap({ namespace }))).toBe(403);
    // A plain create carries no name for RBAC to match: even its own name is refused that way.
    expect(
      await statusOf(
        core.createNamespacedConfigMap({ namespace, body: { metadata: { name: `${own}-2` }, data: {} } }),
      ),
    ).toBe(403);
    expect(await statusOf(core.readNamespacedConfigMap({ name: other, namespace: "kube-system" }))).toBe(403);

    expect(await statusOf(core.deleteNamespacedConfigMap({ name: own, namespace }))).toBe(200);
    await kubectl(["delete", "configmap", other, "-n", namespace]);
  });

  it("refuses to start without any one rule, naming the missing permission", async () => {
    const roles = rbac.docs.filter((d) => d.kind === "ClusterRole" || d.kind === "Role");
    for (const role of roles) {
      const rules = role.rules ?? [];
      for (let i = 0; i < rules.length; i++) {
        const rule = rules[i] as { resources: string[] };
        await applyRbacDocs([{ ...role, rules: rules.filter((_, j) => j !== i) }]);
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
          await applyRbacDocs([role]);
        }
      }
    }
  });
});
