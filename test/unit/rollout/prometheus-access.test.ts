// Whose credentials go where: the operator's only to its own Prometheus and allow-listed
// addresses, a flag's Secret only to the address that Secret names; what a Prometheus (or anything
// posing as one) answers never reaches a flag's status; queries and alert matches stay in the
// flag's namespace. Against capturing loopback HTTP servers.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { FeatureFlag } from "../../../src/api/index.js";
import { validateFeatureFlag } from "../../../src/api/validate.js";
import { validationReview } from "../../../src/operator/validation-webhook.js";
import { analyzeFlag, outcomeFromAlerts } from "../../../src/rollout/analysis.js";
import { PrometheusClient } from "../../../src/rollout/prometheus.js";
import {
  type PrometheusAccess,
  prometheusForFlag,
  type SecretReader,
} from "../../../src/rollout/prometheus-access.js";
import { flagManifest } from "../../fixtures/invalid-flags.js";

const OPERATOR_TOKEN = "operator-token-0123456789";
const SECRET_BODY = "TOP-SECRET-INTERNAL-ANSWER";

interface Capture {
  address: string;
  requests: { url: string; authorization?: string }[];
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => {
      const done = new Promise((r) => s.close(r));
      s.closeAllConnections();
      return done;
    }),
  );
});

/** A loopback HTTP server recording every request's path and Authorization header. */
async function capture(handler: Handler): Promise<Capture> {
  const requests: Capture["requests"] = [];
  const server = createServer((req, res) => {
    requests.push({ url: req.url ?? "", authorization: req.headers.authorization });
    handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

const json =
  (body: unknown, status = 200): Handler =>
  (_req, res) => {
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  };
const prometheusApi =
  (alerts: object[] = [], value = "0"): Handler =>
  (req, res) =>
    req.url?.startsWith("/api/v1/alerts")
      ? json({ status: "success", data: { alerts } })(req, res)
      : json({
          status: "success",
          data: { resultType: "vector", result: [{ metric: {}, value: [1, value] }] },
        })(req, res);

type Analysis = NonNullable<NonNullable<NonNullable<FeatureFlag["spec"]["rollout"]>["canary"]>["analysis"]>;
const flag = (analysis: Analysis, namespace = "team-a") =>
  ({
    metadata: { name: "checkout", namespace },
    spec: { enabled: true, rollout: { percent: 100, canary: { steps: [{ percent: 10 }], analysis } } },
  }) as FeatureFlag;
const both = (prometheus?: Analysis["prometheus"]): Analysis => ({
  alerts: [{ alertName: "ErrorRateHigh", matchLabels: { flag: "checkout" } }],
  query: { promql: 'sum(rate(http_requests_total{flag="checkout"}[1m]))', threshold: 0.5 },
  ...(prometheus && { prometheus }),
});

/** Resolves the flag's Prometheus and runs one analysis, as the analysis loop does. */
async function analyze(f: FeatureFlag, access: PrometheusAccess) {
  const resolved = await prometheusForFlag(f, access);
  if ("refused" in resolved) return { result: "Unavailable" as const, message: resolved.refused };
  return analyzeFlag(f, resolved.client, new Date(), { confineTo: resolved.confineTo });
}

describe("the operator's credentials", () => {
  it("go to the operator's own Prometheus", async () => {
    const operator = await capture(prometheusApi());
    const client = new PrometheusClient({ address: operator.address, bearerToken: OPERATOR_TOKEN });
    expect(await analyze(flag(both()), { operator: client })).toMatchObject({ result: "Passed" });
    expect(operator.requests.map((r) => r.authorization)).toEqual([
      `Bearer ${OPERATOR_TOKEN}`,
      `Bearer ${OPERATOR_TOKEN}`,
    ]);
  });

  it.each([
    ["its address", (a: string) => a],
    ["its address with a path", (a: string) => `${a}/internal/secret`],
  ])("never go to a flag-named address off the allow-list (%s); nothing is contacted", async (_l, at) => {
    const operator = await capture(prometheusApi());
    const foreign = await capture(json({ status: "success", data: { alerts: [] } }));
    const client = new PrometheusClient({ address: operator.address, bearerToken: OPERATOR_TOKEN });
    const outcome = await analyze(flag(both({ address: at(foreign.address) })), { operator: client });
    expect(outcome.result).toBe("Unavailable");
    expect(outcome.message).toMatch(
      /spec\.rollout\.canary\.analysis\.prometheus\.address .* is neither the operator's Prometheus nor on its allow-list/,
    );
    expect(outcome.message).toContain("credentialsSecret");
    expect(foreign.requests).toEqual([]);
  });

  it.each([
    ["a fragment (the API path would be dropped)", (a: string) => `${a}/internal/secret#`],
    ["a query", (a: string) => `${a}/internal/secret?x=`],
    ["user info", (a: string) => a.replace("http://", "http://user:pass@")],
  ])("never go to an address with %s, even one on the allow-list", async (_l, at) => {
    const operator = await capture(prometheusApi());
    const foreign = await capture(json({ status: "success", data: { alerts: [] } }));
    const client = new PrometheusClient({ address: operator.address, bearerToken: OPERATOR_TOKEN });
    const address = at(foreign.address);
    const outcome = await analyze(flag(both({ address })), {
      operator: client,
      allowedAddresses: [foreign.address, address],
    });
    expect(outcome).toMatchObject({ result: "Unavailable" });
    expect(outcome.message).toMatch(/prometheus\.address may not carry/);
    expect(foreign.requests).toEqual([]);
  });

  it("go to an address the operator's allow-list names, compared after normalization", async () => {
    const operator = await capture(prometheusApi());
    const trusted = await capture(prometheusApi());
    const client = new PrometheusClient({ address: operator.address, bearerToken: OPERATOR_TOKEN });
    const outcome = await analyze(flag(both({ address: `${trusted.address}/` })), {
      operator: client,
      allowedAddresses: [trusted.address.replace("http://", "HTTP://")],
    });
    expect(outcome).toMatchObject({ result: "Passed" });
    expect(trusted.requests.map((r) => r.authorization)).toEqual([
      `Bearer ${OPERATOR_TOKEN}`,
      `Bearer ${OPERATOR_TOKEN}`,
    ]);
    expect(operator.requests).toEqual([]);
  });
});

describe("a flag's credentials Secret", () => {
  const secrets =
    (data: Record<string, Record<string, string>>): SecretReader =>
    async (namespace, name) =>
      data[`${namespace}/${name}`];

  it("sends the Secret's token, not the operator's, to the address the Secret names", async () => {
    const operator = await capture(prometheusApi());
    const team = await capture(prometheusApi());
    const client = new PrometheusClient({ address: operator.address, bearerToken: OPERATOR_TOKEN });
    const f = flag(both({ address: team.address, credentialsSecret: { name: "prom" } }));
    const outcome = await analyze(f, {
      operator: client,
      readSecret: secrets({ "team-a/prom": { address: `${team.address}/`, token: "team-token" } }),
    });
    expect(outcome).toMatchObject({ result: "Passed" });
    expect(team.requests.map((r) => r.authorization)).toEqual(["Bearer team-token", "Bearer team-token"]);
    // The flag's own credentials bound what it reads: its query is sent as written.
    expect(team.requests[1]?.url).toContain(encodeURIComponent('{flag="checkout"}'));
  });

  it("sends basic auth from username and password", async () => {
    const team = await capture(prometheusApi());
    const f = flag(both({ address: team.address, credentialsSecret: { name: "prom" } }));
    await analyze(f, {
      operator: new PrometheusClient({ address: "http://127.0.0.1:1", bearerToken: OPERATOR_TOKEN }),
      readSecret: secrets({ "team-a/prom": { address: team.address, username: "u", password: "p" } }),
    });
    expect(team.requests[0]?.authorization).toBe(`Basic ${Buffer.from("u:p").toString("base64")}`);
  });

  it.each([
    ["is missing", {}, /Secret team-a\/prom not found/],
    [
      "names another address",
      { "team-a/prom": { address: "http://elsewhere:9090", token: "t" } },
      /must name .* in its address key/,
    ],
    ["names no address", { "team-a/prom": { token: "t" } }, /must name .* in its address key/],
    ["holds no credentials", { "team-a/prom": { address: "ADDRESS" } }, /neither a token nor a username/],
    [
      "is in another namespace (only the flag's own is read)",
      { "team-b/prom": { address: "ADDRESS", token: "t" } },
      /not found/,
    ],
  ])("is refused when it %s, naming the field; nothing is contacted", async (_l, data, message) => {
    const team = await capture(prometheusApi());
    const withAddress = Object.fromEntries(
      Object.entries(data as Record<string, Record<string, string>>).map(([k, v]) => [
        k,
        Object.fromEntries(Object.entries(v).map(([a, b]) => [a, b === "ADDRESS" ? team.address : b])),
      ]),
    );
    const f = flag(both({ address: team.address, credentialsSecret: { name: "prom" } }));
    const outcome = await analyze(f, {
      operator: new PrometheusClient({ address: "http://127.0.0.1:1", bearerToken: OPERATOR_TOKEN }),
      readSecret: secrets(withAddress),
    });
    expect(outcome.result).toBe("Unavailable");
    expect(outcome.message).toMatch(/^spec\.rollout\.canary\.analysis\.prometheus\.credentialsSecret: /);
    expect(outcome.message).toMatch(message);
    expect(team.requests).toEqual([]);
  });

  it("is refused, pointing at the admin's setting, when RBAC forbids the read", async () => {
    const team = await capture(prometheusApi());
    const f = flag(both({ address: team.address, credentialsSecret: { name: "prom" } }));
    const outcome = await analyze(f, {
      operator: new PrometheusClient({ address: "http://127.0.0.1:1" }),
      readSecret: () => Promise.reject(Object.assign(new Error("forbidden"), { code: 403 })),
    });
    expect(outcome.message).toMatch(
      /may not read Secret team-a\/prom.*prometheus\.credentialSecrets\.namespaces/,
    );
    expect(team.requests).toEqual([]);
  });
});

describe("what Prometheus answers", () => {
  const hostile: [string, Handler][] = [
    ["an HTTP 503 with a text body", (_q, s) => s.writeHead(503).end(SECRET_BODY)],
    ["an HTTP 200 with an HTML page", (_q, s) => s.writeHead(200).end(`<html>${SECRET_BODY}</html>`)],
    ["a JSON body that is no API answer", json({ secret: SECRET_BODY })],
    ["an API error", json({ status: "error", errorType: SECRET_BODY, error: SECRET_BODY }, 422)],
    [
      "an alert with an unknown state",
      json({ status: "success", data: { alerts: [{ labels: { alertname: "x" }, state: SECRET_BODY }] } }),
    ],
    [
      "a result of an unknown type",
      json({ status: "success", data: { resultType: SECRET_BODY, result: [] } }),
    ],
    [
      "a sample that is no number",
      json({ status: "success", data: { resultType: "scalar", result: [1, SECRET_BODY] } }),
    ],
  ];

  it.each(hostile)("never reaches the outcome's message: %s (the log gets it)", async (_l, handler) => {
    const remote = await capture(handler);
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => void lines.push(line) });
    const outcome = await analyzeFlag(
      flag(both()),
      new PrometheusClient({ address: remote.address }),
      new Date(),
      {
        log,
      },
    );
    expect(outcome.result).toBe("Unavailable");
    expect(outcome.message).not.toContain(SECRET_BODY);
    expect(outcome.message).toMatch(/Prometheus/);
    expect(lines.join("\n")).toContain(SECRET_BODY);
  });

  it("a firing alert is described by the flag's own matcher, not by the labels Prometheus sent", async () => {
    const remote = await capture(
      prometheusApi([
        {
          labels: { alertname: "ErrorRateHigh", flag: "checkout", leaked: SECRET_BODY },
          annotations: { summary: SECRET_BODY },
          state: "firing",
        },
      ]),
    );
    const outcome = await analyzeFlag(
      flag(both()),
      new PrometheusClient({ address: remote.address }),
      new Date(),
    );
    expect(outcome).toMatchObject({ result: "Failed", reason: "Alert", alertName: "ErrorRateHigh" });
    expect(outcome.message).toBe('alert ErrorRateHigh {flag="checkout"} is firing');
  });
});

describe("namespace confinement", () => {
  it("adds the flag's namespace to its query and to the cohort's queries", async () => {
    const operator = await capture(prometheusApi());
    const client = new PrometheusClient({ address: operator.address });
    await analyze(
      flag({
        ...both(),
        cohort: {
          requests: "http_requests_total",
          errors: 'http_requests_total{code=~"5.."}',
          maxRelativeDegradation: 0.2,
        },
      }),
      { operator: client },
    );
    const queries = operator.requests
      .filter((r) => r.url.startsWith("/api/v1/query"))
      .map((r) => new URL(r.url, "http://x").searchParams.get("query") ?? "");
    expect(queries).toHaveLength(5);
    for (const q of queries) expect(q).toMatch(/http_requests_total\{[^}]*namespace="team-a"/);
  });

  it("refuses a query naming another namespace, or one that does not parse, naming the field", async () => {
    const operator = await capture(prometheusApi());
    const client = new PrometheusClient({ address: operator.address });
    for (const promql of ['up{namespace="kube-system"}', "sum(rate(up[5m])"]) {
      const outcome = await analyze(flag({ query: { promql, threshold: 1 } }), { operator: client });
      expect(outcome.result).toBe("Unavailable");
      expect(outcome.message).toMatch(/^spec\.rollout\.canary\.analysis\.query\.promql /);
    }
    expect(operator.requests).toEqual([]);
  });

  it("sends the query as written when enforcement is off (single-tenant clusters)", async () => {
    const operator = await capture(prometheusApi());
    const client = new PrometheusClient({ address: operator.address });
    await analyze(flag({ query: { promql: 'up{namespace="kube-system"}', threshold: 1 } }), {
      operator: client,
      namespaceEnforcement: false,
    });
    expect(new URL(operator.requests[0]?.url ?? "", "http://x").searchParams.get("query")).toBe(
      'up{namespace="kube-system"}',
    );
  });

  it("matches only alerts of the flag's namespace, or of none (cluster-wide), polled or pushed", async () => {
    const alert = (namespace?: string) => ({
      labels: { alertname: "ErrorRateHigh", flag: "checkout", ...(namespace && { namespace }) },
      annotations: {},
      state: "firing",
    });
    const analysis: Analysis = {
      alerts: [{ alertName: "ErrorRateHigh", matchLabels: { flag: "checkout" } }],
    };
    for (const [firing, expected] of [
      [alert("team-b"), "Passed"],
      [alert("team-a"), "Failed"],
      [alert(), "Failed"],
    ] as const) {
      const remote = await capture(prometheusApi([firing]));
      const outcome = await analyze(flag(analysis), {
        operator: new PrometheusClient({ address: remote.address }),
      });
      expect(outcome.result, JSON.stringify(firing.labels)).toBe(expected);
      const pushed = outcomeFromAlerts(flag(analysis).spec, [firing], new Date(), "team-a");
      expect(pushed?.result ?? "Passed").toBe(expected);
    }
    // Enforcement off: another namespace's alert matches too.
    expect(outcomeFromAlerts(flag(analysis).spec, [alert("team-b")], new Date())).toMatchObject({
      result: "Failed",
    });
  });
});

describe("addresses with user info, a query or a fragment", () => {
  const manifest = (address: string) =>
    flagManifest("f", {
      enabled: true,
      rollout: {
        percent: 100,
        canary: {
          steps: [{ percent: 10 }],
          analysis: { alerts: [{ alertName: "A" }], prometheus: { address } },
        },
      },
    });
  const bad = [
    "http://127.0.0.1:18999/internal/secret#",
    "http://u:p@prometheus:9090",
    "http://prometheus:9090/x?y=1",
    "ftp://prometheus:9090",
    "http://evil\\@prometheus:9090",
    "http://prometheus:9090/ path",
  ];
  const good = [
    "http://prometheus.monitoring:9090",
    "https://thanos-query.monitoring.svc.cluster.local:10902/prefix/",
    "http://[::1]:9090",
    "http://10.0.0.7",
  ];

  it.each(bad)("%s is refused offline (validate) and by the validation webhook", (address) => {
    expect(validateFeatureFlag(manifest(address)).map((p) => p.field)).toContain(
      "spec.rollout.canary.analysis.prometheus.address",
    );
    const answer = validationReview({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: { uid: "u", operation: "CREATE", object: manifest(address) },
    });
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status?.message).toContain("spec.rollout.canary.analysis.prometheus.address");
  });

  it.each(good)("%s is accepted", (address) => {
    expect(validateFeatureFlag(manifest(address))).toEqual([]);
  });
});
