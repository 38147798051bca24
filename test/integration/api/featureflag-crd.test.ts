// The FeatureFlag CRD against the real API server: it installs, accepts the examples, rejects bad
// manifests naming the field, and serves create/list/watch/status-patch to client-node and kubectl.
import { readdirSync } from "node:fs";
import { PatchStrategy, setHeaderOptions, Watch } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { GROUP, PLURAL, VERSION } from "../../../src/api/index.js";
import { flagManifest, invalidCases } from "../../fixtures/invalid-flags.js";
import { clients, kubeConfig, kubectl, testNamespace } from "../../support/kube.js";
import { waitFor } from "../../support/wait.js";

const examplesDir = new URL("../../../examples/", import.meta.url);

const manifest = (name: string, spec: Record<string, unknown>) => stringify(flagManifest(name, spec));

describe("FeatureFlag CRD on a real API server", () => {
  let ns: Awaited<ReturnType<typeof testNamespace>>;
  beforeAll(async () => {
    ns = await testNamespace("crd");
  });
  afterAll(async () => {
    await ns.remove();
  });

  it("is Established with the short names and category", async () => {
    const crd = JSON.parse(await kubectl(["get", "crd", `${PLURAL}.${GROUP}`, "-o", "json"]));
    const established = crd.status.conditions.find((c: { type: string }) => c.type === "Established");
    expect(established.status).toBe("True");
    const resources = await kubectl(["api-resources", "--api-group", GROUP, "-o", "wide"]);
    expect(resources).toMatch(/featureflags\s+ff,flag\s+flagwright\.dev\/v1alpha1\s+true\s+FeatureFlag/);
    expect(resources).toContain("flagwright");
  });

  it("accepts every manifest in examples/", async () => {
    const files = readdirSync(examplesDir).filter((f) => f.endsWith(".yaml"));
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const file of files) {
      // The examples name the default namespace; server-side dry run validates without keeping them.
      const out = await kubectl(["apply", "--dry-run=server", "-f", new URL(file, examplesDir).pathname]);
      expect(out, file).toMatch(
        /(featureflag|segment)\.flagwright\.dev\/\S+ (created|configured|unchanged) \(server dry run\)/,
      );
    }
  });

  it.each(invalidCases)("rejects $label, naming the field", async ({ spec, field, serverMessage }) => {
    const error = await kubectl(["apply", "-n", ns.name, "-f", "-"], manifest("bad", spec)).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(error, "the API server accepted it").toBeDefined();
    expect(error).toContain(field);
    expect(error).toMatch(serverMessage);
  });

  it("accepts 0.01 steps (two decimals) such as 0.07 and 33.33", async () => {
    const out = await kubectl(
      ["apply", "-n", ns.name, "-f", "-"],
      manifest("fine", {
        enabled: true,
        rollout: { percent: 33.33, canary: { steps: [{ percent: 0.07 }] } },
      }),
    );
    expect(out).toContain("featureflag.flagwright.dev/fine created");
  });

  it("supports create, list, watch and status patches through client-node", async () => {
    const { custom } = clients();
    const kc = kubeConfig();
    const seen: string[] = [];
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${ns.name}/${PLURAL}`;
    const request = await new Watch(kc).watch(
      path,
      {},
      (type, obj: { metadata: { name: string }; status?: { phase?: string } }) => {
        seen.push(`${type} ${obj.metadata.name} ${obj.status?.phase ?? "-"}`);
      },
      () => {},
    );
    try {
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns.name,
        plural: PLURAL,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "FeatureFlag",
          metadata: { name: "client-node" },
          spec: { enabled: true, rollout: { percent: 5 } },
        },
      });
      const list = await custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns.name,
        plural: PLURAL,
      });
      expect(list.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toContain("client-node");

      const patched = await custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          namespace: ns.name,
          plural: PLURAL,
          name: "client-node",
          body: { status: { phase: "Progressing", currentPercent: 5, observedGeneration: 1 } },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      expect(patched.status).toMatchObject({ phase: "Progressing", currentPercent: 5 });
      expect(patched.metadata.generation).toBe(1); // status writes do not bump the spec generation

      await waitFor(
        () => seen.includes("ADDED client-node -") && seen.includes("MODIFIED client-node Progressing"),
        {
          what: `watch events (saw ${JSON.stringify(seen)})`,
        },
      );

      // The status subresource ignores spec: a status patch cannot change what Git owns.
      await custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          namespace: ns.name,
          plural: PLURAL,
          name: "client-node",
          body: { spec: { enabled: false } },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      const current = await custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns.name,
        plural: PLURAL,
        name: "client-node",
      });
      expect(current.spec.enabled).toBe(true);
    } finally {
      request.abort();
    }
  });

  it("prints key, enabled, target %, current %, phase, next scheduled change and age with kubectl get ff", async () => {
    await kubectl(
      ["apply", "-n", ns.name, "-f", "-"],
      manifest("columns", { key: "columns-key", enabled: true, rollout: { percent: 25 } }),
    );
    await kubectl([
      "patch",
      "ff",
      "columns",
      "-n",
      ns.name,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: { phase: "Completed", currentPercent: 25 } }),
    ]);
    const out = await kubectl(["get", "ff", "columns", "-n", ns.name]);
    const [header, row] = out.trim().split("\n");
    expect(header?.split(/\s{2,}/)).toEqual([
      "NAME",
      "KEY",
      "ENABLED",
      "TARGET %",
      "CURRENT %",
      "PHASE",
      "NEXT CHANGE",
      "AGE",
    ]);
    expect(row).toMatch(/^columns\s+columns-key\s+true\s+25\s+25\s+Completed\s+\d+s$/); // no scheduled change: blank
    // The category lists FeatureFlags with everything else of Flagwright's.
    expect(await kubectl(["get", "flagwright", "-n", ns.name, "-o", "name"])).toContain(
      "featureflag.flagwright.dev/columns",
    );
  });
});
