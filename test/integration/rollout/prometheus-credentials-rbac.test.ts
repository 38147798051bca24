// Reading a flag's Prometheus credentials Secret is something RBAC scopes: the real operator runs
// as its ServiceAccount bound to exactly deploy/rbac.yaml, which grants no Secret reads. A flag
// naming a credentials Secret is held with a condition that names the field and the chart value;
// once the admin grants `get` on that one Secret name in the flag's namespace (the Role the chart
// renders for prometheus.credentialSecrets), the operator reads it and sends its token, and only
// that token, to the address the Secret names. Another Secret of the namespace stays unreadable.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { canarySpec, createFlag, getFlag } from "../../support/flag-objects.js";
import { clients, kubectl, testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { installShippedRbac, type ShippedRbac } from "../../support/shipped-rbac.js";
import { waitFor } from "../../support/wait.js";

const { core, custom } = clients();
const TEAM_TOKEN = "team-token-read-by-name";

describe("credentials Secrets are read only where RBAC grants it", () => {
  let system: Awaited<ReturnType<typeof testNamespace>>;
  let apps: Awaited<ReturnType<typeof testNamespace>>;
  let rbac: ShippedRbac | undefined;
  let operator: OperatorProcess | undefined;
  let capture: Server;
  let address: string;
  const seen: (string | undefined)[] = [];

  beforeAll(async () => {
    system = await testNamespace("fw-system");
    apps = await testNamespace("prom-secret");
    capture = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(503).end("remote answer");
    });
    await new Promise<void>((resolve) => capture.listen(0, "127.0.0.1", resolve));
    address = `http://127.0.0.1:${(capture.address() as AddressInfo).port}`;
    for (const name of ["team-prometheus", "unrelated"]) {
      await core.createNamespacedSecret({
        namespace: apps.name,
        body: { metadata: { name }, stringData: { address, token: TEAM_TOKEN } },
      });
    }
    rbac = await installShippedRbac(system.name);
    operator = await startOperator(["--namespaces", apps.name, "--analysis-tick", "200ms"], {
      kubeconfig: rbac.kubeconfigPath,
    });
  });

  afterAll(async () => {
    await operator?.stop();
    await new Promise((resolve) => {
      capture?.close(resolve);
      capture?.closeAllConnections();
    });
    await rbac?.remove();
    await apps?.remove();
    await system?.remove();
  });

  const flagNaming = (name: string, secret: string) =>
    createFlag(
      custom,
      apps.name,
      name,
      canarySpec([10, 100], "1h", {
        alerts: [{ alertName: "ErrorRateHigh" }],
        interval: "1s",
        prometheus: { address, credentialsSecret: { name: secret } },
      }),
    );
  const unavailable = (name: string, pattern: RegExp, what: string) =>
    waitFor(
      async () => {
        const f = await getFlag(custom, apps.name, name);
        const c = f.status?.conditions?.find((x) => x.type === "AnalysisUnavailable");
        return c?.status === "True" && pattern.test(c.message ?? "") && c;
      },
      { timeoutMs: 30_000, intervalMs: 200, what },
    );

  it("without a grant the flag holds, naming the field and the setting; nothing is sent", async () => {
    await flagNaming("before-grant", "team-prometheus");
    const condition = await unavailable("before-grant", /credentialsSecret/, "before-grant held");
    expect(condition.message).toMatch(
      /^spec\.rollout\.canary\.analysis\.prometheus\.credentialsSecret: the operator may not read Secret .*\/team-prometheus/,
    );
    expect(condition.message).toContain("prometheus.credentialSecrets.namespaces");
    expect(seen).toEqual([]);
  });

  it("with get on that Secret's name, its token goes to its address; other Secrets stay unreadable", async () => {
    await kubectl(
      ["apply", "-n", apps.name, "-f", "-"],
      [
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "Role",
          metadata: { name: "flagwright-prometheus-credentials" },
          rules: [
            { apiGroups: [""], resources: ["secrets"], verbs: ["get"], resourceNames: ["team-prometheus"] },
          ],
        },
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "RoleBinding",
          metadata: { name: "flagwright-prometheus-credentials" },
          roleRef: {
            apiGroup: "rbac.authorization.k8s.io",
            kind: "Role",
            name: "flagwright-prometheus-credentials",
          },
          subjects: [{ kind: "ServiceAccount", name: "flagwright-operator", namespace: system.name }],
        },
      ]
        .map((d) => stringify(d))
        .join("---\n"),
    );
    await unavailable(
      "before-grant",
      /Prometheus answered HTTP 503/,
      "before-grant analysed with its Secret",
    );
    expect(new Set(seen)).toEqual(new Set([`Bearer ${TEAM_TOKEN}`]));

    await flagNaming("unrelated", "unrelated");
    const condition = await unavailable("unrelated", /credentialsSecret/, "unrelated held");
    expect(condition.message).toContain("may not read Secret");
  });
});
