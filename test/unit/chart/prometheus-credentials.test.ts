// The chart's Prometheus trust settings: the allow-list and namespace enforcement reach the
// operator's arguments, and Secret reads for flags' credentials Secrets are granted only in the
// namespaces the admin lists (get, by name when names are given; never list or watch), in Roles
// of their own.
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { chartDir, helm } from "./helm.js";

type Obj = {
  kind: string;
  metadata: { name: string; namespace?: string };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field
  [key: string]: any;
};

async function render(...args: string[]): Promise<Obj[]> {
  const result = await helm(["template", "fw", chartDir, "--namespace", "flagwright-system", ...args]);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

const operatorArgs = (objs: Obj[]): string[] =>
  objs.find((o) => o.kind === "Deployment" && o.metadata.name.includes("operator"))?.spec.template.spec
    .containers[0].args ?? [];

const secretRules = (objs: Obj[]) =>
  objs
    .filter((o) => o.kind === "Role" || o.kind === "ClusterRole")
    .flatMap((o) =>
      (o.rules as { resources: string[]; verbs: string[]; resourceNames?: string[] }[])
        .filter((r) => r.resources.includes("secrets"))
        .map((r) => ({ kind: o.kind, namespace: o.metadata.namespace, ...r })),
    );

describe("chart: Prometheus credentials", () => {
  it("grants no Secret reads by default, and passes neither allow-list nor enforcement flags", async () => {
    const objs = await render();
    expect(secretRules(objs).filter((r) => r.kind === "ClusterRole")).toEqual([]);
    expect(secretRules(objs).filter((r) => r.namespace !== "flagwright-system")).toEqual([]);
    expect(operatorArgs(objs).filter((a) => /allowed-address|namespace-enforcement/.test(a))).toEqual([]);
  });

  it("grants get on Secrets, by name, only in the listed namespaces, bound to the operator", async () => {
    const objs = await render(
      "--set-json",
      'prometheus.credentialSecrets={"namespaces":["team-a","team-b"],"names":["prometheus-credentials"]}',
    );
    // The validation webhook's own certificate Secret (in the release namespace) aside.
    expect(secretRules(objs).filter((r) => r.namespace !== "flagwright-system")).toEqual(
      ["team-a", "team-b"].map((namespace) => ({
        kind: "Role",
        namespace,
        apiGroups: [""],
        resources: ["secrets"],
        verbs: ["get"],
        resourceNames: ["prometheus-credentials"],
      })),
    );
    const bindings = objs.filter(
      (o) => o.kind === "RoleBinding" && o.metadata.name.includes("prometheus-credentials"),
    );
    expect(bindings.map((b) => [b.metadata.namespace, b.subjects[0].namespace])).toEqual([
      ["team-a", "flagwright-system"],
      ["team-b", "flagwright-system"],
    ]);
  });

  it("passes the allow-list and turns enforcement off only when asked", async () => {
    const objs = await render(
      "--set-json",
      'prometheus.allowedAddresses=["http://thanos-query.monitoring:10902","https://prom.example/x"]',
      "--set",
      "prometheus.namespaceEnforcement=false",
    );
    expect(operatorArgs(objs)).toEqual(
      expect.arrayContaining([
        "--prometheus-allowed-address=http://thanos-query.monitoring:10902",
        "--prometheus-allowed-address=https://prom.example/x",
        "--promql-namespace-enforcement=false",
      ]),
    );
  });

  it.each(["http://prom:9090/#", "http://u:p@prom:9090", "http://prom:9090/?x=1", "prom:9090"])(
    "refuses %s in prometheus.allowedAddresses",
    async (address) => {
      const result = await helm([
        "template",
        "fw",
        chartDir,
        "--set-json",
        `prometheus.allowedAddresses=${JSON.stringify([address])}`,
      ]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/allowedAddresses\/0.*does not match pattern/);
    },
  );
});
