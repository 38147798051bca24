// The install manifests against the real API server: `helm template` of the chart (default and
// non-default values) and `kubectl kustomize deploy/` (alone, with the injection component, with the
// Grafana dashboards component) must pass `kubectl apply --dry-run=server`, i.e. the API server's
// own validation and admission.
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { runKubectl } from "../../cluster/cluster.js";
import { kubectl, testNamespace } from "../../support/kube.js";
import { chartDir, helm } from "../../unit/chart/helm.js";

const deployDir = fileURLToPath(new URL("../../../deploy", import.meta.url));
let ns: Awaited<ReturnType<typeof testNamespace>>;
let overlay: string;

/** Kinds whose CRDs (prometheus-operator) this cluster does not have; the unit tests check them. */
const NOT_INSTALLED = new Set(["ServiceMonitor", "PrometheusRule"]);

function withoutUninstalledKinds(manifests: string): { yaml: string; kinds: string[] } {
  const docs = parseAllDocuments(manifests)
    .map((d) => d.toJS() as { kind: string } | null)
    .filter((d): d is { kind: string } => d !== null && !NOT_INSTALLED.has(d.kind));
  return { yaml: docs.map((d) => stringify(d)).join("---\n"), kinds: docs.map((d) => d.kind) };
}

/**
 * `kubectl apply --dry-run=server`; resolves with stdout, and fails on any warning on stderr: the
 * namespaces carry `pod-security.kubernetes.io/warn: restricted`, so the API server's PodSecurity
 * admission reports a Deployment whose pod template breaks the restricted standard as a warning.
 */
async function dryRun(manifests: string): Promise<string> {
  const args = ["apply", "--dry-run=server", "--server-side", "--field-manager=flagwright-test", "-f", "-"];
  const cluster = { kubectl: inject("kubectl"), kubeconfig: inject("kubeconfig") };
  const { code, stdout, stderr } = await runKubectl(cluster, args, manifests);
  if (code !== 0 || stderr.trim() !== "") {
    throw new Error(`kubectl apply --dry-run=server (exit ${code}): ${stderr.trim()}`);
  }
  return stdout;
}

const restricted = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/warn": "restricted",
};

beforeAll(async () => {
  ns = await testNamespace("chart");
  await kubectl(["label", "namespace", ns.name, ...Object.entries(restricted).map(([k, v]) => `${k}=${v}`)]);
  // deploy/ installs into flagwright-system; a dry run cannot create the namespace for the
  // objects after it, so it has to exist (there is no namespace controller to delete it again).
  await kubectl(
    ["apply", "-f", "-"],
    stringify({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "flagwright-system", labels: restricted },
    }),
  );
  // Kustomize cannot use a component inside its base from the base itself: a user's own
  // kustomization does, as docs/install.md shows.
  overlay = mkdtempSync(join(tmpdir(), "flagwright-kustomize-"));
  symlinkSync(deployDir, join(overlay, "deploy"));
  writeFileSync(join(overlay, "kustomization.yaml"), "resources: [deploy]\ncomponents: [deploy/webhook]\n");
});

afterAll(async () => {
  if (overlay) rmSync(overlay, { recursive: true, force: true });
  await ns?.remove();
});

describe("install manifests accepted by the API server (kubectl apply --dry-run=server)", () => {
  it("helm template with default values", async () => {
    const rendered = await helm(["template", "fw", chartDir, "--namespace", ns.name, "--include-crds"]);
    expect(rendered.code, rendered.stderr).toBe(0);
    const out = await dryRun(rendered.stdout);
    expect(out).toContain("deployment.apps/flagwright-operator serverside-applied (server dry run)");
    expect(out).toContain("customresourcedefinition.apiextensions.k8s.io/featureflags.flagwright.dev");
  });

  it("helm template with non-default values (injection, NetworkPolicy, Prometheus secrets)", async () => {
    const rendered = await helm([
      "template",
      "fw",
      chartDir,
      "--namespace",
      ns.name,
      "--set",
      "replicaCount=3",
      "--set",
      "prometheus.url=http://prometheus.monitoring:9090",
      "--set",
      "prometheus.caSecret.name=prom-ca",
      "--set",
      "alertmanagerWebhook.tokenSecret.name=am-token",
      "--set",
      "networkPolicy.enabled=true",
      "--set",
      "injection.enabled=true",
      "--set",
      "serviceMonitor.enabled=true",
      "--set",
      "prometheusRule.enabled=true",
    ]);
    expect(rendered.code, rendered.stderr).toBe(0);
    const { yaml, kinds } = withoutUninstalledKinds(rendered.stdout);
    expect(kinds).toEqual(
      expect.arrayContaining(["MutatingWebhookConfiguration", "NetworkPolicy", "Deployment"]),
    );
    const out = await dryRun(yaml);
    expect(out).toContain("mutatingwebhookconfiguration.admissionregistration.k8s.io/fw-flagwright-injector");
    expect(out).toContain("networkpolicy.networking.k8s.io/flagwright-operator");
  });

  it("helm template with a shared evaluator in a namespace", async () => {
    const rendered = await helm([
      "template",
      "fw",
      chartDir,
      "--namespace",
      ns.name,
      "--set",
      `sharedEvaluator.namespaces={${ns.name}}`,
      "--show-only",
      "templates/shared-evaluator.yaml",
    ]);
    expect(rendered.code, rendered.stderr).toBe(0);
    const out = await dryRun(rendered.stdout);
    for (const object of [
      "deployment.apps/flagwright-evaluator",
      "service/flagwright-evaluator",
      "networkpolicy.networking.k8s.io/flagwright-evaluator",
      "role.rbac.authorization.k8s.io/flagwright-evaluator",
    ]) {
      expect(out).toContain(`${object} serverside-applied (server dry run)`);
    }
  });

  it("the PodSecurity check catches a pod template outside the restricted standard", async () => {
    const rendered = await helm([
      "template",
      "fw",
      chartDir,
      "--namespace",
      ns.name,
      "--show-only",
      "templates/deployment.yaml",
    ]);
    const weakened = rendered.stdout.replace(
      "allowPrivilegeEscalation: false",
      "allowPrivilegeEscalation: true",
    );
    expect(weakened).not.toBe(rendered.stdout);
    await expect(dryRun(weakened)).rejects.toThrow(/would violate PodSecurity "restricted:latest"/);
  });

  it("kubectl kustomize deploy/", async () => {
    const built = await kubectl(["kustomize", deployDir]);
    const out = await dryRun(built);
    expect(out).toContain("deployment.apps/flagwright-operator serverside-applied (server dry run)");
    expect(out).toContain("clusterrole.rbac.authorization.k8s.io/flagwright-operator");
    expect(out).toContain("networkpolicy.networking.k8s.io/flagwright-operator serverside-applied");
  });

  it("kubectl kustomize of deploy/ with the deploy/grafana component: two dashboards for Grafana's sidecar", async () => {
    const withDashboards = mkdtempSync(join(tmpdir(), "flagwright-kustomize-"));
    try {
      symlinkSync(deployDir, join(withDashboards, "deploy"));
      writeFileSync(
        join(withDashboards, "kustomization.yaml"),
        `resources: [deploy]\ncomponents: [deploy/grafana]\n`,
      );
      const built = await kubectl(["kustomize", withDashboards]);
      const dashboards = parseAllDocuments(built)
        .map((d) => d.toJS())
        .filter((o) => o?.kind === "ConfigMap" && o.metadata.labels?.grafana_dashboard === "1");
      expect(dashboards.map((d) => Object.keys(d.data)[0]).sort()).toEqual([
        "flagwright-operator.json",
        "flagwright-sidecar.json",
      ]);
      const out = await dryRun(built);
      expect(out).toContain("configmap/flagwright-operator-dashboard");
    } finally {
      rmSync(withDashboards, { recursive: true, force: true });
    }
  });

  it("kubectl kustomize of deploy/ with the deploy/webhook component", async () => {
    const built = await kubectl(["kustomize", overlay]);
    expect(built).toContain("--injection-address=:9443");
    // One admission server: /inject joins /validate on the base's one port and certificate Secret.
    expect(built).toContain("--validation-address=:9443");
    expect(built).toContain("--injection-cert-secret=flagwright-webhook-tls");
    const docs = parseAllDocuments(built).map((d) => d.toJS());
    const policy = docs.find((o) => o?.kind === "NetworkPolicy");
    expect(policy.spec.ingress[1].ports).toEqual([{ port: 9443, protocol: "TCP" }]);
    const service = docs.find((o) => o?.kind === "Service");
    expect(service.spec.ports).toContainEqual({ name: "webhook", port: 443, targetPort: "webhook" });
    const out = await dryRun(built);
    expect(out).toContain("mutatingwebhookconfiguration.admissionregistration.k8s.io/flagwright-injector");
  });
});
