// The operator's Prometheus credentials stay with their owner, end to end: the real operator process
// against the suite's kube-apiserver, with a bearer token for its own Prometheus (a loopback server
// answering the HTTP API) and a capturing HTTP server that flags in a tenant's namespace name as
// their Prometheus. Whatever address the flags write (the `...#` trick included), the capturing
// server never sees the operator's token, and what it answers never shows in a flag's status.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FeatureFlag } from "../../../src/api/index.js";
import { canarySpec, createFlag, getFlag } from "../../support/flag-objects.js";
import { clients, testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { waitFor } from "../../support/wait.js";

const { core, custom } = clients();
const OPERATOR_TOKEN = `operator-${Math.random().toString(36).slice(2)}`;
const TEAM_TOKEN = "team-token-from-the-secret";
const REMOTE_BODY = "CAPTURED-INTERNAL-ANSWER-do-not-echo";

interface Recorder {
  address: string;
  requests: { url: string; authorization?: string }[];
  server: Server;
}

async function listen(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<Recorder> {
  const requests: Recorder["requests"] = [];
  const server = createServer((req, res) => {
    requests.push({ url: req.url ?? "", authorization: req.headers.authorization });
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

const close = (r: Recorder | undefined) =>
  r &&
  new Promise<void>((resolve) => {
    r.server.close(() => resolve());
    r.server.closeAllConnections();
  });

/** Everything a flag's author can read back about the analysis. */
const statusText = (flag: FeatureFlag) =>
  JSON.stringify([flag.status?.lastAnalysis, flag.status?.analysisOutcome, flag.status?.conditions]);

const watchAlert = {
  alerts: [{ alertName: "ErrorRateHigh", matchLabels: { flag: "checkout" } }],
  interval: "1s",
};

describe("the operator's Prometheus credentials stay with the operator", () => {
  let ns: { name: string; remove(): Promise<void> };
  let operatorPrometheus: Recorder;
  let capture: Recorder;
  let operator: OperatorProcess | undefined;
  let tokenDir: string;

  beforeAll(async () => {
    ns = await testNamespace("prom-creds");
    // The operator's own Prometheus: a healthy API answer to everything.
    operatorPrometheus = await listen((req, res) => {
      res.setHeader("content-type", "application/json");
      if (req.url?.startsWith("/api/v1/alerts"))
        res.end(JSON.stringify({ status: "success", data: { alerts: [] } }));
      else
        res.end(
          JSON.stringify({
            status: "success",
            data: { resultType: "vector", result: [{ metric: {}, value: [0, "0.01"] }] },
          }),
        );
    });
    // The address a tenant's flags name: whatever is asked, an error whose body must stay here.
    capture = await listen((_req, res) =>
      res.writeHead(503, { "content-type": "text/plain" }).end(REMOTE_BODY),
    );
    tokenDir = mkdtempSync(join(tmpdir(), "flagwright-prom-creds-"));
    writeFileSync(join(tokenDir, "token"), `${OPERATOR_TOKEN}\n`);
    operator = await startOperator([
      "--namespaces",
      ns.name,
      "--prometheus-url",
      operatorPrometheus.address,
      "--prometheus-bearer-token-file",
      join(tokenDir, "token"),
      "--analysis-tick",
      "200ms",
    ]);
  });

  afterAll(async () => {
    await operator?.stop();
    await close(operatorPrometheus);
    await close(capture);
    await ns?.remove();
    if (tokenDir) rmSync(tokenDir, { recursive: true, force: true });
  });

  /** The flag once its analysis has run at least `checks` times (lastAnalysis set, and then some). */
  const analyzed = (name: string, what: string) =>
    waitFor(
      async () => {
        const f = await getFlag(custom, ns.name, name);
        return f.status?.lastAnalysis?.message !== undefined && f;
      },
      { timeoutMs: 30_000, intervalMs: 200, what },
    );

  it("a flag naming an address with `#` is refused at admission, and never gets the operator's token", async () => {
    const address = `${capture.address}/internal/secret#`;
    const admitted = await createFlag(
      custom,
      ns.name,
      "fragment",
      canarySpec([10, 100], "1h", { ...watchAlert, prometheus: { address } }),
    ).then(
      () => true,
      (error: { code?: number; body?: unknown }) => {
        expect(error.code).toBe(422);
        expect(String(error.body)).toContain("spec.rollout.canary.analysis.prometheus.address");
        return false;
      },
    );
    if (admitted) await analyzed("fragment", "an analysis of the flag whose address ends in #");
    expect(capture.requests.filter((r) => r.authorization?.includes(OPERATOR_TOKEN))).toEqual([]);
    expect(admitted, "the API server admitted an address with a fragment").toBe(false);
  });

  it("a flag naming an address off the allow-list is held with a condition naming the field; nothing is sent there", async () => {
    await createFlag(
      custom,
      ns.name,
      "elsewhere",
      canarySpec([10, 100], "1h", {
        ...watchAlert,
        prometheus: { address: `${capture.address}/internal/secret` },
      }),
    );
    const flag = await analyzed("elsewhere", "the analysis of a flag naming another Prometheus");
    expect(flag.status?.lastAnalysis?.result).toBe("Unavailable");
    const condition = flag.status?.conditions?.find((c) => c.type === "AnalysisUnavailable");
    expect(condition?.status).toBe("True");
    expect(condition?.message).toContain("spec.rollout.canary.analysis.prometheus.address");
    expect(flag.status?.currentPercent).toBe(10);
    expect(capture.requests.filter((r) => r.url.startsWith("/internal/secret"))).toEqual([]);
    expect(capture.requests.filter((r) => r.authorization?.includes(OPERATOR_TOKEN))).toEqual([]);
  });

  it("a flag with a credentials Secret sends that Secret's token there, and status shows only a sanitized reason", async () => {
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: {
        metadata: { name: "team-prometheus" },
        stringData: { address: capture.address, token: TEAM_TOKEN },
      },
    });
    await createFlag(
      custom,
      ns.name,
      "own-prometheus",
      canarySpec([10, 100], "1h", {
        ...watchAlert,
        prometheus: { address: capture.address, credentialsSecret: { name: "team-prometheus" } },
      }),
    );
    const flag = await waitFor(
      async () => {
        const f = await getFlag(custom, ns.name, "own-prometheus");
        const c = f.status?.conditions?.find((x) => x.type === "AnalysisUnavailable");
        return c?.status === "True" && capture.requests.length > 0 && f;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: "own-prometheus analysed against the capturing server" },
    );
    expect(new Set(capture.requests.map((r) => r.authorization))).toEqual(new Set([`Bearer ${TEAM_TOKEN}`]));
    expect(flag.status?.lastAnalysis?.message).toContain("Prometheus answered HTTP 503");
    expect(statusText(flag)).not.toContain(REMOTE_BODY);
    expect(statusText(flag)).not.toContain("CAPTURED");
    // The operator's log may hold the remote text, for its admin.
    expect(JSON.stringify(operator?.logs)).toContain(REMOTE_BODY);
  });

  it("a flag's query reaches the operator's Prometheus confined to the flag's namespace", async () => {
    await createFlag(
      custom,
      ns.name,
      "confined",
      canarySpec([10, 100], "1h", {
        query: { promql: 'sum(rate(http_requests_total{flag="confined"}[1m]))', threshold: 0.5 },
        interval: "1s",
      }),
    );
    const flag = await analyzed("confined", "the confined flag's analysis");
    expect(flag.status?.lastAnalysis?.result).toBe("Passed");
    const queries = operatorPrometheus.requests
      .filter((r) => r.url.startsWith("/api/v1/query"))
      .map((r) => new URL(r.url, "http://x").searchParams.get("query"));
    expect(queries).toContain(`sum(rate(http_requests_total{flag="confined",namespace="${ns.name}"}[1m]))`);
    expect(
      queries.filter((q) => q?.includes('flag="confined"') && !q.includes(`namespace="${ns.name}"`)),
    ).toEqual([]);
    expect(operatorPrometheus.requests.every((r) => r.authorization === `Bearer ${OPERATOR_TOKEN}`)).toBe(
      true,
    );
  });
});
