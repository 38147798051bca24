// The Prometheus client's edges, against loopback HTTP(S) servers answering what a broken or
// misconfigured Prometheus might: errors, malformed JSON, silence, auth, a private CA. (The real
// Prometheus is exercised in test/integration/rollout.)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { FeatureFlag } from "../../../src/api/index.js";
import { analyzeFlag } from "../../../src/rollout/analysis.js";
import { PrometheusClient, PrometheusError } from "../../../src/rollout/prometheus.js";
import { prometheusForFlag } from "../../../src/rollout/prometheus-access.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const servers: Server[] = [];
afterEach(async () => {
  // closeAllConnections: a server holding a request it never answers would otherwise not close.
  await Promise.all(
    servers.splice(0).map((s) => {
      const done = new Promise((r) => s.close(r));
      s.closeAllConnections();
      return done;
    }),
  );
});

async function serve(handler: Handler, https?: { key: Buffer; cert: Buffer }): Promise<string> {
  const server = https ? createHttpsServer(https, handler) : createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return `${https ? "https" : "http"}://127.0.0.1:${port}`;
}

const json =
  (body: unknown, status = 200): Handler =>
  (_req, res) => {
    res.statusCode = status;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(body));
  };

const vector = (...values: string[]) =>
  json({
    status: "success",
    data: {
      resultType: "vector",
      result: values.map((v, i) => ({ metric: { i: String(i) }, value: [1, v] })),
    },
  });

const flag = (analysis: object) =>
  ({
    metadata: { name: "f" },
    spec: { enabled: true, rollout: { percent: 100, canary: { steps: [{ percent: 1 }], analysis } } },
  }) as FeatureFlag;
const queryFlag = flag({ query: { promql: "up", threshold: 0.05 } });

describe("PrometheusClient", () => {
  it("reads scalars and vectors; several series give the largest; none is empty", async () => {
    const scalar = new PrometheusClient({
      address: await serve(json({ status: "success", data: { resultType: "scalar", result: [1, "0.5"] } })),
    });
    expect(await scalar.query("1")).toMatchObject({ kind: "value", value: 0.5 });
    const many = new PrometheusClient({ address: await serve(vector("0.01", "0.3", "NaN")) });
    expect(await many.query("x")).toMatchObject({ kind: "value", value: 0.3, series: 3 });
    const none = new PrometheusClient({ address: await serve(vector()) });
    expect(await none.query("x")).toEqual({ kind: "empty" });
  });

  it("reads every series of a vector with its labels (queryVector), and refuses anything else", async () => {
    const many = new PrometheusClient({ address: await serve(vector("3", "5")) });
    expect(await many.queryVector("x")).toEqual([
      { labels: { i: "0" }, value: 3 },
      { labels: { i: "1" }, value: 5 },
    ]);
    const scalar = new PrometheusClient({
      address: await serve(json({ status: "success", data: { resultType: "scalar", result: [1, "0.5"] } })),
    });
    await expect(scalar.queryVector("1")).rejects.toThrow("query did not return an instant vector");
    const malformed = new PrometheusClient({
      address: await serve(json({ status: "success", data: { resultType: "vector", result: [7] } })),
    });
    await expect(malformed.queryVector("x")).rejects.toThrow("malformed vector sample");
  });

  it("sends the bearer token or basic auth, the query and its time", async () => {
    const seen: IncomingMessage[] = [];
    const address = await serve((req, res) => {
      seen.push(req);
      vector("0")(req, res);
    });
    await new PrometheusClient({ address, bearerToken: "tok" }).query("up", new Date(1_700_000_000_000));
    await new PrometheusClient({ address: `${address}/`, basicAuth: { username: "u", password: "p" } }).query(
      "up",
    );
    expect(seen[0]?.headers.authorization).toBe("Bearer tok");
    expect(seen[0]?.url).toBe("/api/v1/query?query=up&time=1700000000.000");
    expect(seen[1]?.headers.authorization).toBe(`Basic ${Buffer.from("u:p").toString("base64")}`);
  });

  it.each([
    [
      "an HTTP 503 with a text body",
      (_q: IncomingMessage, s: ServerResponse) => s.writeHead(503).end("down"),
      /HTTP 503/,
    ],
    ["malformed JSON", (_q: IncomingMessage, s: ServerResponse) => s.end("{not json"), /not JSON/],
    ["a non-API JSON body", json({ hello: 1 }), /other than a Prometheus API response/],
    [
      "a Prometheus error",
      json({ status: "error", errorType: "execution", error: "boom" }, 503),
      /HTTP 503 \(execution\)/,
    ],
    ["a matrix", json({ status: "success", data: { resultType: "matrix", result: [] } }), /not a scalar/],
    [
      "a malformed sample",
      json({ status: "success", data: { resultType: "vector", result: [{ value: [1] }] } }),
      /malformed/,
    ],
  ])("%s is an error with a reason, and analysis says Unavailable", async (_label, handler, message) => {
    const client = new PrometheusClient({ address: await serve(handler as Handler) });
    await expect(client.query("up")).rejects.toThrow(message);
    const outcome = await analyzeFlag(queryFlag, client, new Date());
    expect(outcome.result).toBe("Unavailable");
    expect(outcome.message).toMatch(message);
  });

  it("a query Prometheus rejects (400 bad_data) is reported as an invalid query", async () => {
    const client = new PrometheusClient({
      address: await serve(json({ status: "error", errorType: "bad_data", error: "parse error" }, 400)),
    });
    const outcome = await analyzeFlag(queryFlag, client, new Date());
    expect(outcome).toMatchObject({ result: "Unavailable" });
    expect(outcome.message).toContain("spec.rollout.canary.analysis.query.promql) is invalid");
  });

  it("times out on a server that never answers", async () => {
    const address = await serve(() => {
      /* never answers */
    });
    const client = new PrometheusClient({ address, timeoutMs: 200 });
    const started = Date.now();
    const error = await client.alerts().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PrometheusError);
    expect((error as PrometheusError).kind).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("refused connections are Unavailable", async () => {
    const address = await serve(json({}));
    const server = servers.pop() as Server;
    await new Promise((r) => server.close(r));
    const outcome = await analyzeFlag(
      flag({ alerts: [{ alertName: "A" }] }),
      new PrometheusClient({ address }),
      new Date(),
    );
    expect(outcome.result).toBe("Unavailable");
    expect(outcome.message).toContain("Prometheus unreachable");
  });

  describe("TLS with a private CA", () => {
    const dir = mkdtempSync(join(tmpdir(), "flagwright-ca-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        key,
        "-out",
        cert,
      ],
      { stdio: "ignore" },
    );

    it("trusts the CA file and rejects the server without it", async () => {
      const address = await serve(vector("0.01"), { key: readFileSync(key), cert: readFileSync(cert) });
      expect(await new PrometheusClient({ address, caFile: cert }).query("x")).toMatchObject({ value: 0.01 });
      const outcome = await analyzeFlag(queryFlag, new PrometheusClient({ address }), new Date());
      expect(outcome.result).toBe("Unavailable");
      expect(outcome.message).toContain("Prometheus unreachable");
    });
  });
});

describe("analyzeFlag", () => {
  const alertsBody = (alerts: object[]) => json({ status: "success", data: { alerts } });
  const both = flag({
    alerts: [{ alertName: "ErrorRateHigh", matchLabels: { flag: "f" } }],
    query: { promql: "up", threshold: 0.05 },
  });

  it("a firing matching alert fails even when the query would pass; pending alerts do not", async () => {
    const route =
      (alerts: object[]): Handler =>
      (req, res) =>
        req.url?.startsWith("/api/v1/alerts") ? alertsBody(alerts)(req, res) : vector("0")(req, res);
    const firing = { labels: { alertname: "ErrorRateHigh", flag: "f" }, annotations: {}, state: "firing" };
    const client = new PrometheusClient({ address: await serve(route([firing])) });
    expect(await analyzeFlag(both, client, new Date())).toMatchObject({
      result: "Failed",
      reason: "Alert",
      alertName: "ErrorRateHigh",
    });
    const pending = new PrometheusClient({ address: await serve(route([{ ...firing, state: "pending" }])) });
    expect(await analyzeFlag(both, pending, new Date())).toMatchObject({ result: "Passed" });
    const other = new PrometheusClient({
      address: await serve(route([{ ...firing, labels: { alertname: "ErrorRateHigh", flag: "g" } }])),
    });
    expect(await analyzeFlag(both, other, new Date())).toMatchObject({ result: "Passed" });
  });

  it("NaN (no traffic) is inconclusive; alerts unreachable make the whole check Unavailable", async () => {
    const nan = new PrometheusClient({
      address: await serve((req, res) =>
        req.url?.startsWith("/api/v1/alerts") ? alertsBody([])(req, res) : vector("NaN")(req, res),
      ),
    });
    expect(await analyzeFlag(both, nan, new Date())).toMatchObject({ result: "Inconclusive" });
    const half = new PrometheusClient({
      address: await serve((req, res) =>
        req.url?.startsWith("/api/v1/alerts") ? res.writeHead(502).end() : vector("0")(req, res),
      ),
    });
    expect(await analyzeFlag(both, half, new Date())).toMatchObject({ result: "Unavailable" });
  });

  it("stamps the outcome with the check's time, so the step machine counts it once", async () => {
    const now = new Date("2026-01-01T00:00:00Z");
    const client = new PrometheusClient({ address: await serve(vector("0")) });
    expect((await analyzeFlag(queryFlag, client, now)).at).toEqual(now);
  });

  it("uses the flag's own Prometheus address when the operator's allow-list names it", async () => {
    const good = await serve(vector("0.5"));
    const f = flag({ query: { promql: "up", threshold: 0.05 }, prometheus: { address: good } });
    const operator = new PrometheusClient({ address: "http://127.0.0.1:1" });
    const resolved = await prometheusForFlag(f, { operator, allowedAddresses: [good] });
    if ("refused" in resolved) throw new Error(resolved.refused);
    const outcome = await analyzeFlag(f, resolved.client, new Date());
    expect(outcome).toMatchObject({ result: "Failed", value: 0.5 });
  });
});

describe("prometheusForFlag", () => {
  const operator = new PrometheusClient({ address: "http://prometheus:9090/", bearerToken: "t" });
  const withAddress = (address: string) =>
    flag({ query: { promql: "up", threshold: 1 }, prometheus: { address } });

  it("is the operator's client when the flag names no address or the operator's own", async () => {
    for (const f of [
      queryFlag,
      withAddress("http://prometheus:9090"),
      withAddress("http://prometheus:9090//"),
    ]) {
      expect(await prometheusForFlag(f, { operator })).toMatchObject({ client: operator });
    }
  });

  it("keeps the operator's settings for an allow-listed address, without its trailing slash", async () => {
    const own = await prometheusForFlag(withAddress("https://team-prometheus:9090/"), {
      operator,
      allowedAddresses: ["https://team-prometheus:9090"],
    });
    if ("refused" in own) throw new Error(own.refused);
    expect(own.client).not.toBe(operator);
    expect(own.client.address).toBe("https://team-prometheus:9090");
  });
});
