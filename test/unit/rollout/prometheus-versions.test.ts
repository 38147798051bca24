// The Prometheus client and canary analysis against what Prometheus 2 and Prometheus 3 really
// answer: each folder in test/fixtures/prometheus/ holds one version's recorded answers
// (test/fixtures/prometheus/record.ts: the project's rules, a flag failing 20 % of its requests,
// one alert held pending), served back here from loopback. Both versions must give the same
// verdicts.
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FeatureFlag } from "../../../src/api/index.js";
import { analyzeFlag } from "../../../src/rollout/analysis.js";
import { PrometheusClient } from "../../../src/rollout/prometheus.js";

const fixtures = fileURLToPath(new URL("../../fixtures/prometheus/", import.meta.url));
const versions = readdirSync(fixtures, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

interface Recorded {
  path: string;
  status: number;
  body: unknown;
}

/** Serves one version's recorded answers by request path and query. */
async function replay(
  version: string,
): Promise<{ address: string; queries: Record<string, string>; server: Server }> {
  const dir = join(fixtures, version);
  const recorded = new Map<string, Recorded>();
  const queries: Record<string, string> = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    const answer = JSON.parse(readFileSync(join(dir, file), "utf8")) as Recorded;
    const url = new URL(answer.path, "http://x");
    recorded.set(`${url.pathname}?${url.searchParams.get("query") ?? ""}`, answer);
    if (url.searchParams.has("query"))
      queries[file.replace(/\.json$/, "")] = url.searchParams.get("query") ?? "";
  }
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const answer = recorded.get(`${url.pathname}?${url.searchParams.get("query") ?? ""}`);
    res.writeHead(answer?.status ?? 404, { "content-type": "application/json" });
    res.end(
      JSON.stringify(answer?.body ?? { status: "error", errorType: "not_found", error: "not recorded" }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, queries, server };
}

const flag = (analysis: object) =>
  ({
    metadata: { name: "f" },
    spec: { enabled: true, rollout: { percent: 100, canary: { steps: [{ percent: 1 }], analysis } } },
  }) as FeatureFlag;

it("has recorded answers from both Prometheus 2 and Prometheus 3", () => {
  expect(versions.map((v) => v.split(".")[0])).toEqual(expect.arrayContaining(["2", "3"]));
});

describe.each(versions)("Prometheus %s", (version) => {
  let server: Server;
  let client: PrometheusClient;
  let queries: Record<string, string>;
  beforeAll(async () => {
    const replayed = await replay(version);
    server = replayed.server;
    queries = replayed.queries;
    client = new PrometheusClient({ address: replayed.address });
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const query = (name: string) => client.query(queries[name] ?? `missing ${name}`);

  it("alerts: the error-rate alert firing for flag f, the held one pending", async () => {
    const alerts = await client.alerts();
    expect(alerts).toContainEqual(
      expect.objectContaining({
        labels: expect.objectContaining({ alertname: "FlagwrightFlagErrorRateHigh", flag: "f" }),
        state: "firing",
        value: expect.any(String),
      }),
    );
    expect(alerts).toContainEqual(
      expect.objectContaining({ labels: { alertname: "HeldPending", flag: "f" }, state: "pending" }),
    );
    const firing = alerts.find((a) => a.labels.alertname === "FlagwrightFlagErrorRateHigh");
    expect(Number(firing?.value)).toBeCloseTo(0.2, 2);
    expect(firing?.annotations.summary).toBe("Flag f: 20% of requests fail");
  });

  it("queries: vector, scalar, empty, NaN; a parse error and a range vector are query errors", async () => {
    const vector = await query("query-vector");
    expect(vector).toMatchObject({ kind: "value", series: 1, labels: { flag: "f" } });
    expect(vector.kind === "value" && vector.value).toBeCloseTo(0.2, 2);
    const scalar = await query("query-scalar");
    expect(scalar.kind === "value" && scalar.value).toBeCloseTo(0.2, 2);
    expect(await query("query-empty")).toEqual({ kind: "empty" });
    const nan = await query("query-nan");
    expect(nan.kind === "value" && Number.isNaN(nan.value)).toBe(true);
    await expect(query("query-bad")).rejects.toMatchObject({ kind: "query" });
    await expect(query("query-matrix")).rejects.toMatchObject({
      kind: "query",
      message: expect.stringMatching(/matrix, not a scalar or an instant vector/),
    });
  });

  it("analysis: the firing alert fails the step, a pending one does not; the query fails over its threshold", async () => {
    const now = new Date();
    expect(
      await analyzeFlag(
        flag({ alerts: [{ alertName: "FlagwrightFlagErrorRateHigh", matchLabels: { flag: "f" } }] }),
        client,
        now,
      ),
    ).toMatchObject({ result: "Failed", reason: "Alert", alertName: "FlagwrightFlagErrorRateHigh" });
    expect(
      await analyzeFlag(
        flag({ alerts: [{ alertName: "HeldPending", matchLabels: { flag: "f" } }] }),
        client,
        now,
      ),
    ).toMatchObject({ result: "Passed" });
    expect(
      await analyzeFlag(flag({ query: { promql: queries["query-vector"], threshold: 0.05 } }), client, now),
    ).toMatchObject({ result: "Failed" });
    expect(
      await analyzeFlag(flag({ query: { promql: queries["query-vector"], threshold: 0.5 } }), client, now),
    ).toMatchObject({ result: "Passed" });
    expect(
      await analyzeFlag(flag({ query: { promql: queries["query-nan"], threshold: 0.05 } }), client, now),
    ).toMatchObject({ result: "Inconclusive" });
  });
});
