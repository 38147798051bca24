// The shared evaluator's Role as the chart renders it, on the real API server: its ServiceAccount
// follows the namespace's flags ConfigMap (list and watch by field selector, which RBAC matches
// against resourceNames) and is refused every other ConfigMap of the namespace.
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { ConfigMapSource } from "../../../src/source/configmap-source.js";
import { clients, kubeConfig, kubectl, testNamespace } from "../../support/kube.js";
import { waitFor } from "../../support/wait.js";
import { chartDir, helm } from "../../unit/chart/helm.js";

const RBAC_KINDS = new Set(["ServiceAccount", "Role", "RoleBinding"]);

describe("the shared evaluator's Role", () => {
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  let kc: KubeConfig;

  beforeAll(async () => {
    ns = await testNamespace("evaluator-rbac");
    const rendered = await helm([
      "template",
      "fw",
      chartDir,
      "--set",
      `sharedEvaluator.namespaces={${ns.name}}`,
      "--show-only",
      "templates/shared-evaluator.yaml",
    ]);
    expect(rendered.code, rendered.stderr).toBe(0);
    const rbac = parseAllDocuments(rendered.stdout)
      .map((d) => d.toJS() as { kind: string } | null)
      .filter((d): d is { kind: string } => d !== null && RBAC_KINDS.has(d.kind));
    expect(rbac.map((d) => d.kind).sort()).toEqual(["Role", "RoleBinding", "ServiceAccount"]);
    await kubectl(["apply", "-f", "-"], rbac.map((d) => stringify(d)).join("---\n"));
    const token = (
      await kubectl(["create", "token", "flagwright-evaluator", "-n", ns.name, "--duration=1h"])
    ).trim();
    const cluster = kubeConfig().getCurrentCluster();
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [cluster],
      users: [{ name: "evaluator", token }],
      contexts: [{ name: "evaluator", cluster: cluster?.name, user: "evaluator" }],
      currentContext: "evaluator",
    });
  });
  afterAll(async () => {
    await ns?.remove();
  });

  it("lets the evaluator follow the flags ConfigMap and nothing else", async () => {
    const { core: admin } = clients();
    const document = (revision: string) => JSON.stringify({ revision, flags: {} });
    const write = (name: string, revision: string) =>
      kubectl(
        ["apply", "--server-side", "-n", ns.name, "-f", "-"],
        stringify({
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name },
          data: { "flags.json": document(revision) },
        }),
      );
    await write("flagwright-flags", "r1");
    await write("app-settings", "other");

    const texts: string[] = [];
    const errors: string[] = [];
    const source = new ConfigMapSource({
      kubeConfig: kc,
      namespace: ns.name,
      name: "flagwright-flags",
      onText: (text) => texts.push(text),
      onError: (error) => errors.push(error.message),
    });
    await source.start();
    try {
      await waitFor(() => texts.includes(document("r1")) || undefined, { what: "the listed document" });
      await write("flagwright-flags", "r2");
      await waitFor(() => texts.includes(document("r2")) || undefined, { what: "the watched change" });
      expect(errors).toEqual([]);
    } finally {
      await source.stop();
    }

    const { core } = clients(kc);
    const statusOf = (request: Promise<unknown>) =>
      request.then(
        () => 200,
        (error: { code?: number }) => error.code ?? 0,
      );
    expect(
      await statusOf(core.readNamespacedConfigMap({ name: "flagwright-flags", namespace: ns.name })),
    ).toBe(200);
    expect(await statusOf(core.readNamespacedConfigMap({ name: "app-settings", namespace: ns.name }))).toBe(
      403,
    );
    expect(await statusOf(core.listNamespacedConfigMap({ namespace: ns.name }))).toBe(403);
    expect(
      await statusOf(
        core.listNamespacedConfigMap({ namespace: ns.name, fieldSelector: "metadata.name=app-settings" }),
      ),
    ).toBe(403);
    // The admin still sees both: the refusals are the Role's, not missing objects.
    expect((await admin.listNamespacedConfigMap({ namespace: ns.name })).items.length).toBeGreaterThanOrEqual(
      2,
    );
  });
});
