// The operator against the real API server, as its ServiceAccount with exactly the RBAC
// deploy/rbac.yaml ships (its own ConfigMap only): flags are projected into the namespace's
// ConfigMap, status follows the spec generation, hand edits are repaired, and Git's fields stay Git's.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { GROUP, PLURAL, VERSION } from "../../../src/api/index.js";
import { parseDocument } from "../../../src/core/index.js";
import { flagManifest } from "../../fixtures/invalid-flags.js";
import { clients, kubectl, testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { installShippedRbac, type ShippedRbac } from "../../support/shipped-rbac.js";
import { waitFor } from "../../support/wait.js";

const { core, custom } = clients();

async function projected(namespace: string) {
  try {
    const cm = await core.readNamespacedConfigMap({ name: "flagwright-flags", namespace });
    return { cm, doc: parseDocument(cm.data?.["flags.json"] ?? "") };
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  }
}

async function getFlag(namespace: string, name: string) {
  return custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    name,
  });
}

const apply = (
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  manager = "kubectl-client-side-apply",
) =>
  kubectl(
    ["apply", "--server-side", `--field-manager=${manager}`, "-n", namespace, "-f", "-"],
    stringify(flagManifest(name, spec)),
  );

describe("operator projection", () => {
  let operator: OperatorProcess;
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let system: Awaited<ReturnType<typeof testNamespace>>;
  let rbac: ShippedRbac;

  beforeAll(async () => {
    ns = await testNamespace("proj");
    system = await testNamespace("proj-system");
    rbac = await installShippedRbac(system.name);
    operator = await startOperator(["--namespaces", ns.name], { kubeconfig: rbac.kubeconfigPath });
  });
  afterAll(async () => {
    await operator?.stop();
    await rbac?.remove();
    await system?.remove();
    await ns?.remove();
  });

  it("projects a new flag within 2 s, follows spec changes and deletions, and removes the empty ConfigMap", async () => {
    const started = Date.now();
    await apply(ns.name, "search", { enabled: true, rollout: { percent: 25 } });
    const first = await waitFor(async () => (await projected(ns.name))?.doc.flags.search, {
      timeoutMs: 2_000,
      what: "the flag in the ConfigMap",
    });
    const latencyMs = Date.now() - started;
    expect(first).toMatchObject({ enabled: true, killed: false, percent: 25, allowedUsers: [] });
    console.log(`apply → ConfigMap: ${latencyMs} ms`);

    const cm = (await projected(ns.name))?.cm;
    expect(cm?.metadata?.labels?.["app.kubernetes.io/managed-by"]).toBe("flagwright");
    // No reference per flag (they outgrow etcd's request limit); the label finds it.
    expect(cm?.metadata?.ownerReferences).toBeUndefined();
    expect(cm?.metadata?.managedFields?.map((m) => m.manager)).toEqual(["flagwright"]);

    const ready = await waitFor(
      async () => {
        const flag = await getFlag(ns.name, "search");
        return flag.status?.observedGeneration === 1 && flag.status.projection?.revision ? flag : undefined;
      },
      { what: "status for generation 1" },
    );
    expect(ready.status).toMatchObject({ phase: "Completed", currentPercent: 25, key: "search" });
    expect(ready.status.conditions).toContainEqual(
      expect.objectContaining({ type: "Ready", status: "True", reason: "Projected" }),
    );
    // The flag's own revision in the document (a neighbour's change does not rewrite it).
    expect(ready.status.projection.revision).toBe((await projected(ns.name))?.doc.flags.search?.revision);

    await apply(ns.name, "search", { enabled: true, rollout: { percent: 50 }, allowedUsers: ["ada"] });
    await waitFor(async () => (await projected(ns.name))?.doc.flags.search?.percent === 50, {
      timeoutMs: 2_000,
      what: "percent 50",
    });
    expect((await projected(ns.name))?.doc.flags.search?.allowedUsers).toEqual(["ada"]);
    await waitFor(async () => (await getFlag(ns.name, "search")).status?.observedGeneration === 2, {
      what: "observedGeneration 2",
    });

    await apply(ns.name, "checkout", { enabled: false });
    await waitFor(async () => (await projected(ns.name))?.doc.flags.checkout, {
      timeoutMs: 2_000,
      what: "second flag",
    });
    await waitFor(async () => (await getFlag(ns.name, "checkout")).status?.phase === "Disabled", {
      what: "phase Disabled",
    });

    await kubectl(["delete", "ff", "search", "-n", ns.name]);
    await waitFor(
      async () => {
        const doc = (await projected(ns.name))?.doc;
        return doc && !doc.flags.search && doc.flags.checkout ? true : undefined;
      },
      { timeoutMs: 2_000, what: "deleted flag removed from the document" },
    );

    await kubectl(["delete", "ff", "checkout", "-n", ns.name]);
    await waitFor(async () => (await projected(ns.name)) === undefined, {
      timeoutMs: 2_000,
      what: "ConfigMap removed",
    });
  });

  it("repairs a hand-edited or deleted ConfigMap within seconds", async () => {
    await apply(ns.name, "repair-me", { enabled: true, rollout: { percent: 10 } });
    const original = await waitFor(async () => (await projected(ns.name))?.doc, {
      timeoutMs: 2_000,
      what: "projection",
    });

    await kubectl([
      "patch",
      "configmap",
      "flagwright-flags",
      "-n",
      ns.name,
      "--type=merge",
      "-p",
      JSON.stringify({ data: { "flags.json": '{"tampered": true}' } }),
    ]);
    await waitFor(async () => (await projected(ns.name))?.doc.revision === original.revision, {
      timeoutMs: 5_000,
      what: "edited ConfigMap restored",
    });

    await kubectl(["delete", "configmap", "flagwright-flags", "-n", ns.name]);
    await waitFor(async () => (await projected(ns.name))?.doc.revision === original.revision, {
      timeoutMs: 5_000,
      what: "deleted ConfigMap recreated",
    });
    await kubectl(["delete", "ff", "repair-me", "-n", ns.name]);
  });

  it("never touches fields Git owns: argocd-controller's fields stay, flagwright owns only status", async () => {
    const spec = {
      enabled: true,
      description: "owned by Git",
      rollout: { percent: 30 },
      allowedUsers: ["a", "b"],
    };
    await apply(ns.name, "gitops", spec, "argocd-controller");
    await kubectl(["label", "ff", "gitops", "-n", ns.name, "team=checkout"]);
    await waitFor(async () => (await getFlag(ns.name, "gitops")).status?.observedGeneration === 1, {
      what: "first status",
    });
    const before = await getFlag(ns.name, "gitops");

    // Drive many reconciles: every ConfigMap tamper makes the operator reconcile the namespace.
    for (let i = 0; i < 10; i++) {
      await kubectl(["annotate", "configmap", "flagwright-flags", "-n", ns.name, `poke=${i}`, "--overwrite"]);
      await kubectl(["delete", "configmap", "flagwright-flags", "-n", ns.name]);
      await waitFor(async () => (await projected(ns.name))?.doc.flags.gitops, {
        timeoutMs: 5_000,
        what: `restore ${i}`,
      });
    }

    const after = await getFlag(ns.name, "gitops");
    expect(after.spec).toEqual(before.spec);
    expect(after.metadata.generation).toBe(1);
    expect(after.metadata.labels).toEqual({ team: "checkout" });
    const argo = (m: { manager: string; operation: string }) => m.manager === "argocd-controller";
    expect(after.metadata.managedFields.find(argo)).toEqual(before.metadata.managedFields.find(argo));
    const ours = after.metadata.managedFields.filter((m: { manager: string }) => m.manager === "flagwright");
    expect(ours.length).toBeGreaterThan(0);
    for (const entry of ours) {
      expect(entry.subresource).toBe("status");
      expect(Object.keys(entry.fieldsV1)).toEqual(["f:status"]);
    }
    // Server-side apply of the same manifest by Argo CD finds nothing to change (no drift).
    const out = await apply(ns.name, "gitops", spec, "argocd-controller");
    expect(out).toContain("serverside-applied");
    expect((await getFlag(ns.name, "gitops")).metadata.generation).toBe(1);
  });
});
