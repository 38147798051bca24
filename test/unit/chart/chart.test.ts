// The Helm chart, checked by helm itself (built from helm.sh/helm/v3, see helm.ts): lint, render
// with default and non-default values, schema errors, RBAC equal to deploy/, the restricted
// security context, and the CRD copy in sync with crds/.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { promtoolCheckRules } from "../../support/prometheus.js";
import { chartDir, helm } from "./helm.js";

const read = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), "utf8");

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field
  [key: string]: any;
};
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

async function render(...args: string[]): Promise<Obj[]> {
  const result = await helm(["template", "fw", chartDir, "--namespace", "flagwright-system", ...args]);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

const find = (objs: Obj[], kind: string, name?: string) => {
  const found = objs.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (!found) throw new Error(`no ${kind}${name ? ` ${name}` : ""} in ${objs.map((o) => o.kind).join(", ")}`);
  return found;
};

/** Rules as "group|resource|verb[|names]" strings, the shape test/unit/operator/permissions.test.ts uses. */
const flatten = (rules: Rule[]) =>
  rules
    .flatMap((r) =>
      r.apiGroups.flatMap((g) =>
        r.resources.flatMap((res) =>
          r.verbs.map((v) => `${g}|${res}|${v}${r.resourceNames ? `|${r.resourceNames.join(",")}` : ""}`),
        ),
      ),
    )
    .sort();

const nonDefault = [
  "--set-json",
  'operator.namespaces=["shop","search"]',
  "--set",
  "replicaCount=3",
  "--set",
  "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
  "--set",
  "prometheus.url=http://prometheus.monitoring:9090",
  "--set",
  "prometheus.rollbackAfterUnavailable=10m",
  "--set",
  "grafanaDashboards.enabled=true",
  "--set",
  "prometheus.bearerTokenSecret.name=prom-token",
  "--set",
  "alertmanagerWebhook.tokenSecret.name=am-token",
  "--set",
  "serviceMonitor.enabled=true",
  "--set",
  "prometheusRule.enabled=true",
  // --set keeps 0.02 a string; the schema wants a number.
  "--set-json",
  "prometheusRule.errorRate.threshold=0.02",
  "--set",
  "networkPolicy.enabled=true",
  "--set",
  "injection.enabled=true",
  "--set",
  "operator.logLevel=debug",
];

describe("charts/flagwright", () => {
  it("charts/flagwright/crds holds the same CRDs as crds/ (run npm run generate)", () => {
    for (const crd of ["featureflags.flagwright.dev.yaml", "segments.flagwright.dev.yaml"]) {
      expect(read(`charts/flagwright/crds/${crd}`), crd).toBe(read(`crds/${crd}`));
    }
  });

  it("passes helm lint with default and non-default values", async () => {
    const plain = await helm(["lint", "--strict", chartDir]);
    expect(plain.stdout + plain.stderr, "helm lint").toContain("0 chart(s) failed");
    expect(plain.code).toBe(0);
    const custom = await helm(["lint", "--strict", chartDir, ...nonDefault]);
    expect(custom.code, custom.stdout + custom.stderr).toBe(0);
  });

  it("renders the operator with two leader-elected replicas, probes and resources by default", async () => {
    const objs = await render();
    expect(objs.map((o) => o.kind).sort()).toEqual(
      [
        "ClusterRole",
        // The user roles: flag author, release manager, viewer.
        "ClusterRole",
        "ClusterRole",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
        // The targeting validation webhook (validation.enabled) and its caBundle/Secret RBAC.
        "ValidatingWebhookConfiguration",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
      ].sort(),
    );
    const deployment = find(objs, "Deployment");
    expect(deployment.spec.replicas).toBe(2);
    const [container] = deployment.spec.template.spec.containers;
    expect(container.image).toBe("ghcr.io/flagwright/flagwright:0.1.0");
    expect(container.args).toEqual(
      expect.arrayContaining([
        "operator",
        "--http-address=:8080",
        "--leader-elect",
        "--configmap-name=flagwright-flags",
      ]),
    );
    expect(container.readinessProbe.httpGet.path).toBe("/readyz");
    expect(container.livenessProbe.httpGet.path).toBe("/healthz");
    expect(container.resources.requests).toEqual({ cpu: "50m", memory: "96Mi" });
    // Heap limits, so that V8 collects garbage instead of growing into the memory limit.
    expect(container.env).toContainEqual({
      name: "NODE_OPTIONS",
      value: "--max-old-space-size=96 --max-semi-space-size=2",
    });
    expect(find(objs, "Service").spec.ports).toEqual([
      { name: "http", port: 8080, targetPort: "http" },
      // The one admission server (validation.enabled by default).
      { name: "webhook", port: 443, targetPort: "webhook" },
    ]);
  });

  it("renders a Deployment that meets the restricted Pod Security Standard", async () => {
    for (const objs of [await render(), await render(...nonDefault)]) {
      const pod = find(objs, "Deployment").spec.template.spec;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.securityContext.seccompProfile).toEqual({ type: "RuntimeDefault" });
      expect(pod.hostNetwork ?? false).toBe(false);
      for (const container of pod.containers) {
        const sc = container.securityContext;
        expect(sc.allowPrivilegeEscalation).toBe(false);
        expect(sc.readOnlyRootFilesystem).toBe(true);
        expect(sc.runAsNonRoot).toBe(true);
        expect(sc.privileged ?? false).toBe(false);
        expect(sc.capabilities.drop).toEqual(["ALL"]);
        expect(sc.capabilities.add ?? []).toEqual([]);
      }
      // Nothing but emptyDir and Secret volumes (restricted allows no hostPath).
      for (const volume of pod.volumes ?? []) {
        expect(Object.keys(volume).filter((k) => k !== "name")).toEqual([
          expect.stringMatching(/^(emptyDir|secret)$/),
        ]);
      }
    }
  });

  it("grants the operator exactly the RBAC rules of deploy/rbac.yaml", async () => {
    const objs = await render();
    const base = parseAllDocuments(read("deploy/rbac.yaml")).map((d) => d.toJS() as Obj);
    for (const kind of ["ClusterRole", "Role"]) {
      // The Role by name: the admission server's certificate Secret has a Role of its own.
      const name = kind === "Role" ? find(base, kind).metadata.name : undefined;
      expect(flatten(find(objs, kind, name).rules), kind).toEqual(flatten(find(base, kind).rules));
    }
    const binding = find(objs, "ClusterRoleBinding");
    expect(binding.subjects).toEqual([
      { kind: "ServiceAccount", name: "flagwright-operator", namespace: "flagwright-system" },
    ]);
  });

  it("grants ConfigMap rights on operator.configMapName only, to the operator and the shared evaluators", async () => {
    const objs = await render(
      "--set",
      "operator.configMapName=team-flags",
      "--set-json",
      'sharedEvaluator.namespaces=["shop"]',
    );
    const configMapRules = (role: Obj) =>
      (role.rules as Rule[]).filter((r) => r.resources.includes("configmaps"));
    expect(configMapRules(find(objs, "ClusterRole", "fw-flagwright-operator"))).toEqual([
      {
        apiGroups: [""],
        resources: ["configmaps"],
        resourceNames: ["team-flags"],
        verbs: ["get", "list", "watch", "create", "patch", "delete"],
      },
    ]);
    expect(configMapRules(find(objs, "Role", "flagwright-evaluator"))).toEqual([
      {
        apiGroups: [""],
        resources: ["configmaps"],
        resourceNames: ["team-flags"],
        verbs: ["get", "list", "watch"],
      },
    ]);
  });

  describe("NetworkPolicy", () => {
    const policy = async (...args: string[]) => find(await render(...args), "NetworkPolicy");
    const monitoring = {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } },
    };

    it("is on by default: port 8080 from the monitoring namespace only, the webhook port, egress to DNS and the API server", async () => {
      const { spec } = await policy();
      expect(spec.policyTypes).toEqual(["Ingress", "Egress"]);
      expect(spec.ingress).toEqual([
        { ports: [{ port: 8080, protocol: "TCP" }], from: [monitoring] },
        // The API server's addresses are unknown until networkPolicy.apiServerCIDRs names them.
        { ports: [{ port: 9443, protocol: "TCP" }] },
      ]);
      // deploy/ ships the same rules.
      const base = parse(read("deploy/networkpolicy.yaml")) as Obj;
      expect(base.spec.ingress).toEqual(spec.ingress);
      expect(base.spec.egress).toEqual(spec.egress);
      expect(spec.podSelector.matchLabels).toMatchObject(base.spec.podSelector.matchLabels);
    });

    it("lets only the API server's addresses into the one webhook port, and only the named peers into port 8080", async () => {
      const { spec } = await policy(
        "--set",
        "injection.enabled=true",
        "--set-json",
        'networkPolicy.apiServerCIDRs=["10.0.0.10/32"]',
        "--set-json",
        'networkPolicy.webhookFrom=[{"ipBlock":{"cidr":"100.64.0.0/16"}}]',
        "--set-json",
        'networkPolicy.monitoringNamespaces=["observability","alerting"]',
        "--set-json",
        'networkPolicy.ingressFrom=[{"podSelector":{"matchLabels":{"app":"scraper"}}}]',
      );
      const namespace = (name: string) => ({
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } },
      });
      expect(spec.ingress).toEqual([
        {
          ports: [{ port: 8080, protocol: "TCP" }],
          from: [
            namespace("observability"),
            namespace("alerting"),
            { podSelector: { matchLabels: { app: "scraper" } } },
          ],
        },
        {
          ports: [{ port: 9443, protocol: "TCP" }],
          from: [{ ipBlock: { cidr: "10.0.0.10/32" } }, { ipBlock: { cidr: "100.64.0.0/16" } }],
        },
      ]);
      // Nobody named for port 8080: no rule for it at all (a rule without peers would admit anyone).
      const closed = await policy("--set-json", "networkPolicy.monitoringNamespaces=[]");
      expect(closed.spec.ingress).toEqual([{ ports: [{ port: 9443, protocol: "TCP" }] }]);
      expect(
        (await render("--set", "networkPolicy.enabled=false")).some((o) => o.kind === "NetworkPolicy"),
      ).toBe(false);
    });
  });

  it("renders the options: Prometheus settings, secrets, ServiceMonitor, PrometheusRule, NetworkPolicy, injection", async () => {
    const objs = await render(...nonDefault);
    const deployment = find(objs, "Deployment");
    const [container] = deployment.spec.template.spec.containers;
    expect(deployment.spec.replicas).toBe(3);
    expect(container.image).toBe(
      "ghcr.io/flagwright/flagwright@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    );
    expect(container.args).toEqual(
      expect.arrayContaining([
        "--namespaces=shop,search",
        "--prometheus-url=http://prometheus.monitoring:9090",
        "--rollback-after-unavailable=10m",
        "--prometheus-bearer-token-file=/etc/flagwright/secrets/prometheus-token/token",
        "--webhook-token-file=/etc/flagwright/secrets/alertmanager-webhook/token",
        "--injection-address=:9443",
        "--injection-webhook-config=fw-flagwright-injector",
        "--injection-cert-secret=fw-flagwright-webhook-tls",
        // One admission server: both routes on one address, one certificate Secret.
        "--validation-address=:9443",
        "--validation-cert-secret=fw-flagwright-webhook-tls",
        "--log-level=debug",
      ]),
    );
    expect(find(objs, "ServiceMonitor").spec.endpoints[0]).toMatchObject({ port: "http", path: "/metrics" });
    const rule = find(objs, "PrometheusRule").spec.groups[0].rules[0];
    expect(rule.alert).toBe("FlagwrightFlagErrorRateHigh");
    expect(rule.expr).toContain("> 0.02");
    expect(rule.annotations.summary).toContain("{{ $labels.flag }}");
    expect(find(objs, "NetworkPolicy").spec.egress).toContainEqual({
      ports: [{ port: 9090, protocol: "TCP" }],
    });

    const webhook = find(objs, "MutatingWebhookConfiguration").webhooks[0];
    expect(webhook.objectSelector).toEqual({ matchLabels: { "flagwright.dev/inject": "true" } });
    expect(webhook.clientConfig.service).toMatchObject({
      name: "flagwright-operator",
      path: "/inject",
      port: 443,
    });
    // The injection RBAC is confined to its own webhook configuration.
    const injectorRole = find(objs, "ClusterRole", "fw-flagwright-injector");
    expect(injectorRole.rules).toEqual([
      {
        apiGroups: ["admissionregistration.k8s.io"],
        resources: ["mutatingwebhookconfigurations"],
        resourceNames: ["fw-flagwright-injector"],
        verbs: ["get", "patch"],
      },
    ]);
    // Both webhook configurations call the one Service port, each on its path.
    const validating = find(objs, "ValidatingWebhookConfiguration").webhooks[0];
    expect(validating.clientConfig.service).toMatchObject({ path: "/validate", port: 443 });
    expect(find(objs, "Service").spec.ports).toContainEqual({
      name: "webhook",
      port: 443,
      targetPort: "webhook",
    });
    expect(container.ports).toEqual([
      { name: "http", containerPort: 8080 },
      { name: "webhook", containerPort: 9443 },
    ]);
    // One certificate Secret, and one Role for it.
    const secretRoles = objs.filter(
      (o) =>
        o.kind === "Role" && o.rules.some((r: { resources: string[] }) => r.resources.includes("secrets")),
    );
    expect(secretRoles.map((r) => [r.metadata.name, r.rules[0].resourceNames])).toEqual([
      ["fw-flagwright-webhook", ["fw-flagwright-webhook-tls"]],
    ]);
  });

  it("ships the Grafana dashboards as ConfigMaps labelled for Grafana's sidecar, with grafanaDashboards.enabled", async () => {
    expect((await render()).filter((o) => o.metadata.name.endsWith("-dashboard"))).toEqual([]);
    const objs = await render(
      "--set",
      "grafanaDashboards.enabled=true",
      "--set",
      "grafanaDashboards.namespace=monitoring",
      "--set",
      "grafanaDashboards.annotations.grafana_folder=Flagwright",
    );
    const dashboards = objs.filter((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-dashboard"));
    expect(dashboards.map((d) => d.metadata.name).sort()).toEqual([
      "flagwright-operator-dashboard",
      "flagwright-sidecar-dashboard",
    ]);
    for (const cm of dashboards) {
      expect(cm.metadata).toMatchObject({
        namespace: "monitoring",
        labels: { grafana_dashboard: "1", "app.kubernetes.io/managed-by": "Helm" },
        annotations: { grafana_folder: "Flagwright" },
      });
      const [file, json] = Object.entries(cm.data as Record<string, string>)[0] ?? [];
      expect(json).toBe(read(`deploy/grafana/${file}`).trimEnd());
    }
  });

  describe("user ClusterRoles (userRoles.create)", () => {
    const USER_ROLES = ["flag-author", "release-manager", "viewer"];
    const AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-";
    const aggregateLabels = (role: Obj) =>
      Object.keys(role.metadata.labels ?? {})
        .filter((k) => k.startsWith(AGGREGATE))
        .sort();

    it("render the rules and aggregation labels of deploy/user-roles.yaml", async () => {
      const objs = await render();
      const base = parseAllDocuments(read("deploy/user-roles.yaml")).map((d) => d.toJS() as Obj);
      expect(base.map((o) => o.metadata.name).sort()).toEqual(USER_ROLES.map((r) => `flagwright-${r}`));
      for (const role of USER_ROLES) {
        const chart = find(objs, "ClusterRole", `fw-flagwright-${role}`);
        const deployed = find(base, "ClusterRole", `flagwright-${role}`);
        expect(flatten(chart.rules), role).toEqual(flatten(deployed.rules));
        expect(aggregateLabels(chart), role).toEqual(aggregateLabels(deployed));
      }
    });

    it("separate spec writes from status controls: authors no status, release managers no spec", async () => {
      const objs = await render();
      const rules = (role: string) => flatten(find(objs, "ClusterRole", `fw-flagwright-${role}`).rules);
      const resources = ["featureflags", "segments"];
      const read = resources
        .flatMap((r) => ["get", "list", "watch"].map((v) => `flagwright.dev|${r}|${v}`))
        .sort();
      const writes = resources.flatMap((r) =>
        ["create", "update", "patch", "delete"].map((v) => `flagwright.dev|${r}|${v}`),
      );
      expect(rules("flag-author")).toEqual([...read, ...writes].sort());
      expect(rules("release-manager")).toEqual(
        [
          ...read,
          "flagwright.dev|featureflags/status|get",
          "flagwright.dev|featureflags/status|patch",
        ].sort(),
      );
      expect(rules("viewer")).toEqual(read);
      // Status controls (kill, pause...) go to admin, never to everyone with edit.
      const labels = (role: string) => aggregateLabels(find(objs, "ClusterRole", `fw-flagwright-${role}`));
      expect(labels("flag-author")).toEqual([`${AGGREGATE}admin`, `${AGGREGATE}edit`]);
      expect(labels("release-manager")).toEqual([`${AGGREGATE}admin`]);
      expect(labels("viewer")).toEqual([`${AGGREGATE}view`]);
    });

    it("are left out with userRoles.create=false and not aggregated with aggregateToDefaultRoles=false", async () => {
      const none = await render("--set", "userRoles.create=false");
      const names = none.filter((o) => o.kind === "ClusterRole").map((o) => o.metadata.name);
      expect(names).toEqual(["fw-flagwright-operator", "fw-flagwright-validation"]);
      const plain = await render("--set", "userRoles.aggregateToDefaultRoles=false");
      for (const role of USER_ROLES) {
        expect(aggregateLabels(find(plain, "ClusterRole", `fw-flagwright-${role}`)), role).toEqual([]);
      }
    });
  });

  it("renders PrometheusRule groups that pass promtool check rules", async () => {
    const rule = find(await render(...nonDefault), "PrometheusRule");
    const dir = mkdtempSync(join(tmpdir(), "flagwright-chart-rules-"));
    try {
      const file = join(dir, "rules.yaml");
      writeFileSync(file, stringify({ groups: rule.spec.groups }));
      expect(await promtoolCheckRules([file])).toContain("SUCCESS: 3 rules found");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("renders the same operator Deployment as the kustomize base deploy/", async () => {
    const chart = find(await render(), "Deployment");
    const base = parse(read("deploy/deployment.yaml")) as Obj;
    expect(chart.metadata.name).toBe(base.metadata.name);
    expect(chart.spec.replicas).toBe(base.spec.replicas);
    const [c] = chart.spec.template.spec.containers;
    const [b] = base.spec.template.spec.containers;
    for (const field of ["image", "ports", "readinessProbe", "livenessProbe", "resources", "env"]) {
      expect(c[field], field).toEqual(b[field]);
    }
    // Webhook object names carry the release name in the chart; their presence is compared instead.
    for (const arg of b.args) {
      if (/^--validation-(webhook-config|cert-secret|dns-names)=/.test(arg)) {
        expect(
          c.args.some((a: string) => a.startsWith(arg.split("=")[0] as string)),
          arg,
        ).toBe(true);
      } else expect(c.args, arg).toContain(arg);
    }
    // The chart sets the user for the whole pod; the base on the container.
    const { runAsUser, ...containerContext } = b.securityContext;
    expect(c.securityContext).toMatchObject(containerContext);
    expect(c.securityContext.runAsUser ?? chart.spec.template.spec.securityContext.runAsUser).toBe(runAsUser);
    expect(chart.spec.template.spec.securityContext).toMatchObject(base.spec.template.spec.securityContext);
    expect(chart.spec.template.spec.serviceAccountName).toBe(base.spec.template.spec.serviceAccountName);
  });

  it.each([
    [["--set", "replicaCount=0"], "at '/replicaCount': minimum: got 0, want 1"],
    [
      ["--set", "operator.logLevel=verbose"],
      "at '/operator/logLevel': value must be one of 'debug', 'info', 'warn', 'error'",
    ],
    [
      ["--set", "prometheus.url=prometheus:9090"],
      "at '/prometheus/url': 'prometheus:9090' does not match pattern",
    ],
    [
      ["--set", "securityContext.allowPrivilegeEscalation=true"],
      "at '/securityContext/allowPrivilegeEscalation': value must be false",
    ],
    [["--set", "replicas=3"], "additional properties 'replicas' not allowed"],
    [["--set", "userRoles.create=yes"], "at '/userRoles/create': got string, want boolean"],
  ])("a bad value fails with the schema's message: %s", async (args, message) => {
    const result = await helm(["template", "fw", chartDir, ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(message);
  });

  it("renders a shared evaluator per listed namespace: token required, reachable by Service name, NetworkPolicy", async () => {
    expect((await render()).filter((o) => o.metadata.name === "flagwright-evaluator")).toEqual([]);
    const objs = await render("--set", "sharedEvaluator.namespaces={shop,billing}");
    for (const ns of ["shop", "billing"]) {
      const mine = objs.filter(
        (o) => o.metadata.name === "flagwright-evaluator" && o.metadata.namespace === ns,
      );
      expect(mine.map((o) => o.kind).sort()).toEqual(
        ["Deployment", "NetworkPolicy", "Role", "RoleBinding", "Service", "ServiceAccount"].sort(),
      );
      const deployment = mine.find((o) => o.kind === "Deployment") as Obj;
      const container = deployment.spec.template.spec.containers[0];
      expect(container.args).toEqual([
        "sidecar",
        `--configmap=${ns}/flagwright-flags`,
        "--listen=0.0.0.0:8016",
        "--auth-token-file=/var/run/flagwright/evaluator/token",
        `--public-url=http://flagwright-evaluator.${ns}.svc:8016`,
      ]);
      expect(deployment.spec.template.spec.volumes[0].secret.secretName).toBe("flagwright-evaluator-token");
      expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
      const service = mine.find((o) => o.kind === "Service") as Obj;
      expect(service.spec.ports[0]).toMatchObject({ port: 8016, targetPort: "ofrep" });
      expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
      const policy = mine.find((o) => o.kind === "NetworkPolicy") as Obj;
      expect(policy.spec.podSelector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
      expect(policy.spec.ingress).toEqual([
        { ports: [{ port: 8016, protocol: "TCP" }], from: [{ podSelector: {} }] },
      ]);
    }
  });

  it("leaves V8's default heap limits with operator.nodeOptions empty", async () => {
    const [container] = find(await render("--set", "operator.nodeOptions="), "Deployment").spec.template.spec
      .containers;
    expect(container.env.map((e: { name: string }) => e.name)).toEqual(["POD_NAMESPACE"]);
  });

  it("refuses more than one replica without leader election", async () => {
    const result = await helm(["template", "fw", chartDir, "--set", "leaderElection.enabled=false"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("leaderElection.enabled must be true with more than one replica");
  });

  it("values.yaml documents every top-level key the schema knows", () => {
    const schema = JSON.parse(read("charts/flagwright/values.schema.json"));
    const values = parse(read("charts/flagwright/values.yaml"));
    expect(Object.keys(values).sort()).toEqual(Object.keys(schema.properties).sort());
  });
});
