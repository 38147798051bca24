import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { DEFAULT_CONFIGMAP_NAME } from "../../../src/core/index.js";
import { REQUIRED_PERMISSIONS } from "../../../src/operator/permissions.js";

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

it("deploy/rbac.yaml grants exactly what the operator checks for, by name where it checks by name", () => {
  const docs = parseAllDocuments(
    readFileSync(new URL("../../../deploy/rbac.yaml", import.meta.url), "utf8"),
  ).map((d) => d.toJS() as { kind: string; rules?: Rule[] });
  const granted = (kind: string) =>
    docs
      .filter((d) => d.kind === kind)
      .flatMap((d) => d.rules ?? [])
      .flatMap((r) =>
        r.apiGroups.flatMap((g) =>
          r.resources.flatMap((res) =>
            r.verbs.map((v) => `${g}|${res}|${v}${r.resourceNames ? `|${r.resourceNames.join(",")}` : ""}`),
          ),
        ),
      )
      .sort();
  const required = (scope: string) =>
    REQUIRED_PERMISSIONS.filter((p) => p.scope === scope)
      .flatMap((p) =>
        p.verbs.map(
          (v) =>
            `${p.group}|${p.resource}${p.subresource ? `/${p.subresource}` : ""}|${v}${p.onlyConfigMap ? `|${DEFAULT_CONFIGMAP_NAME}` : ""}`,
        ),
      )
      .sort();
  expect(granted("ClusterRole")).toEqual(required("watched"));
  expect(granted("Role")).toEqual(required("leader-election"));
});
