// The user ClusterRoles of deploy/user-roles.yaml on the real API server: each is bound in a test
// namespace to a user the suite's admin impersonates (a kubeconfig whose user has `as:`, which
// kubectl and the kubectl-flagwright plugin both honour), and real requests show what each may do.
import { readFileSync, rmSync } from "node:fs";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { type FeatureFlag, GROUP, PLURAL, VERSION } from "../../../src/api/index.js";
import { runKubectl } from "../../cluster/cluster.js";
import { flagManifest } from "../../fixtures/invalid-flags.js";
import { impersonatingKubeconfig } from "../../support/impersonation.js";
import { clients, kubectl, testNamespace } from "../../support/kube.js";
import { installKubectlPlugin, type KubectlPlugin } from "../../support/processes.js";

type Role = { kind: string; metadata: { name: string; labels?: Record<string, string> }; rules: unknown[] };
const ROLES = ["flag-author", "release-manager", "viewer"] as const;
type RoleName = (typeof ROLES)[number];

const canary = {
  enabled: true,
  rollout: { percent: 100, canary: { steps: [{ percent: 1, pause: "1h" }, { percent: 100 }] } },
};

let ns: Awaited<ReturnType<typeof testNamespace>>;
let plugin: KubectlPlugin;
const created: Role[] = [];
const kubeconfigs = {} as Record<RoleName, string>;
const userOf = (role: RoleName) => `${role}-${ns.name}`;
const { custom } = clients();

/** kubectl as the role's user (impersonated); never rejects, the result carries the exit code. */
const kubectlAs = (role: RoleName, args: string[], input?: string) =>
  runKubectl({ kubectl: inject("kubectl"), kubeconfig: kubeconfigs[role] }, [...args, "-n", ns.name], input);
const pluginAs = (role: RoleName, args: string[]) =>
  plugin.run(["--kubeconfig", kubeconfigs[role], "-n", ns.name, ...args]);
const canI = async (role: RoleName, verb: string, resource: string, subresource?: string) => {
  const args = ["auth", "can-i", verb, resource, ...(subresource ? [`--subresource=${subresource}`] : [])];
  return (await kubectlAs(role, args)).stdout.trim();
};

const readFlag = (name: string) =>
  custom.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns.name,
    plural: PLURAL,
    name,
  }) as Promise<FeatureFlag>;

/** A canary flag created by the admin, with the status the operator writes once it ramps. */
async function adminCreatesCanary(name: string) {
  await kubectl(["apply", "-n", ns.name, "-f", "-"], stringify(flagManifest(name, canary)));
  await custom.patchNamespacedCustomObjectStatus(
    {
      group: GROUP,
      version: VERSION,
      namespace: ns.name,
      plural: PLURAL,
      name,
      fieldManager: "flagwright",
      body: {
        status: {
          observedGeneration: 1,
          phase: "Progressing",
          currentStepIndex: 0,
          currentPercent: 1,
          stepStartedAt: new Date().toISOString(),
        },
      },
    },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
}

beforeAll(async () => {
  ns = await testNamespace("roles");
  plugin = installKubectlPlugin();
  // The roles as shipped, renamed for this run. The aggregation labels are dropped so nothing
  // could ever join the shared cluster's built-in roles (the unit tests check the labels).
  const text = readFileSync(new URL("../../../deploy/user-roles.yaml", import.meta.url), "utf8");
  for (const doc of parseAllDocuments(text)) {
    const role = doc.toJS() as Role;
    const short = ROLES.find((r) => role.metadata.name === `flagwright-${r}`);
    if (!short) throw new Error(`unexpected role ${role.metadata.name} in deploy/user-roles.yaml`);
    role.metadata = { name: `${role.metadata.name}-${ns.name}` };
    created.push(role);
    const binding = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: short, namespace: ns.name },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role.metadata.name },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: userOf(short) }],
    };
    await kubectl(["apply", "-f", "-"], `${stringify(role)}---\n${stringify(binding)}`);
    // The admin's credentials, impersonating the user. The entry's name differs from the user on
    // purpose: controls must record who the API server authenticated, not a name the kubeconfig's
    // author chose.
    kubeconfigs[short] = impersonatingKubeconfig(userOf(short), { entryName: `entry-${short}` });
  }
  expect(Object.keys(kubeconfigs).sort()).toEqual([...ROLES].sort());
});

afterAll(async () => {
  plugin?.dispose();
  for (const path of Object.values(kubeconfigs)) rmSync(path, { force: true });
  await kubectl(
    ["delete", "--ignore-not-found", "-f", "-"],
    created.map((r) => stringify(r)).join("---\n"),
  ).catch(() => {});
  await ns?.remove();
});

describe("user ClusterRoles bound in a namespace", () => {
  it("kubectl auth can-i: authors write spec, release managers write status, viewers only read", async () => {
    const matrix: [string, string, string | undefined, Record<RoleName, "yes" | "no">][] = [
      ["get", "featureflags", undefined, { "flag-author": "yes", "release-manager": "yes", viewer: "yes" }],
      ["watch", "featureflags", undefined, { "flag-author": "yes", "release-manager": "yes", viewer: "yes" }],
      ["create", "featureflags", undefined, { "flag-author": "yes", "release-manager": "no", viewer: "no" }],
      ["patch", "featureflags", undefined, { "flag-author": "yes", "release-manager": "no", viewer: "no" }],
      ["delete", "featureflags", undefined, { "flag-author": "yes", "release-manager": "no", viewer: "no" }],
      ["patch", "featureflags", "status", { "flag-author": "no", "release-manager": "yes", viewer: "no" }],
      ["update", "featureflags", "status", { "flag-author": "no", "release-manager": "no", viewer: "no" }],
      ["get", "configmaps", undefined, { "flag-author": "no", "release-manager": "no", viewer: "no" }],
    ];
    const seen: string[] = [];
    const want: string[] = [];
    for (const [verb, resource, sub, expected] of matrix) {
      for (const role of ROLES) {
        const label = `${role} ${verb} ${resource}${sub ? `/${sub}` : ""}`;
        seen.push(`${label}: ${await canI(role, verb, resource, sub)}`);
        want.push(`${label}: ${expected[role]}`);
      }
    }
    expect(seen).toEqual(want);
  });

  it("a flag author applies and changes a flag, but kubectl flagwright pause fails with a clear message", async () => {
    const manifest = flagManifest("author-flag", canary);
    const applied = await kubectlAs("flag-author", ["apply", "-f", "-"], stringify(manifest));
    expect(applied.code, applied.stderr).toBe(0);
    const changed = await kubectlAs(
      "flag-author",
      ["apply", "-f", "-"],
      stringify(flagManifest("author-flag", { ...canary, description: "changed by the author" })),
    );
    expect(changed.code, changed.stderr).toBe(0);
    expect((await readFlag("author-flag")).spec.description).toBe("changed by the author");

    await adminCreatesCanary("author-flag");
    const pause = await pluginAs("flag-author", ["pause", "author-flag"]);
    expect(pause.code).not.toBe(0);
    expect(pause.err).toMatch(
      /cannot pause flag author-flag: API server answered 403: .*cannot patch resource "featureflags\/status"/,
    );
    expect((await readFlag("author-flag")).status?.controls?.paused).toBeUndefined();
  });

  it("a release manager pauses and kills with kubectl flagwright, but cannot change or delete the spec", async () => {
    await adminCreatesCanary("release-flag");
    const pause = await pluginAs("release-manager", ["pause", "release-flag"]);
    expect(pause.code, pause.err).toBe(0);
    const kill = await pluginAs("release-manager", ["kill", "release-flag", "--reason", "incident"]);
    expect(kill.code, kill.err).toBe(0);
    const flag = await readFlag("release-flag");
    expect(flag.status?.controls?.paused).toMatchObject({ by: userOf("release-manager") });
    expect(flag.status?.controls?.killed).toMatchObject({
      by: userOf("release-manager"),
      reason: "incident",
    });

    const edit = await kubectlAs(
      "release-manager",
      ["apply", "-f", "-"],
      stringify(flagManifest("release-flag", { ...canary, enabled: false })),
    );
    expect(edit.code).not.toBe(0);
    expect(edit.stderr).toMatch(/forbidden.*cannot patch resource "featureflags"/);
    const remove = await kubectlAs("release-manager", ["delete", "featureflag", "release-flag"]);
    expect(remove.stderr).toMatch(/forbidden.*cannot delete resource "featureflags"/);
    const after = await readFlag("release-flag");
    expect(after.spec.enabled).toBe(true);
    expect(after.metadata.generation).toBe(1);
  });

  it("a viewer reads flags and their status, and can change nothing", async () => {
    await adminCreatesCanary("viewed-flag");
    const list = await kubectlAs("viewer", ["get", "featureflags", "-o", "name"]);
    expect(list.stdout).toContain("featureflag.flagwright.dev/viewed-flag");
    const status = await pluginAs("viewer", ["status", "viewed-flag"]);
    expect(status.code, status.err).toBe(0);
    expect(status.out).toContain("viewed-flag");

    const kill = await pluginAs("viewer", ["kill", "viewed-flag"]);
    expect(kill.code).not.toBe(0);
    expect(kill.err).toMatch(/cannot kill flag viewed-flag: API server answered 403/);
    const create = await kubectlAs(
      "viewer",
      ["apply", "-f", "-"],
      stringify(flagManifest("viewer-flag", canary)),
    );
    expect(create.stderr).toMatch(/forbidden/);
    const configMaps = await kubectlAs("viewer", ["get", "configmaps"]);
    expect(configMaps.stderr).toMatch(/forbidden.*cannot list resource "configmaps"/);
    const flag = await readFlag("viewed-flag");
    expect(flag.status?.controls?.killed).toBeUndefined();
  });
});
