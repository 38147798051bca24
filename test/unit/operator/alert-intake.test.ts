// The Alertmanager webhook router: token first (constant-time, 401), 413 over 1 MiB, 400 for
// malformed payloads, firing alerts to onAlerts. Mounted on a loopback express server here; the
// real Alertmanager POSTs to it in test/integration/rollout/prometheus.test.ts.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  alertmanagerWebhook,
  parseAlertmanagerWebhook,
  WEBHOOK_PATH,
  WebhookPayloadError,
} from "../../../src/operator/alert-intake.js";
import { type FiringAlert, flagsMatchingAlerts } from "../../../src/rollout/analysis.js";

const payload = (alerts: object[]) => ({
  version: "4",
  groupKey: '{}:{alertname="FlagwrightFlagErrorRateHigh"}',
  status: "firing",
  receiver: "flagwright",
  groupLabels: {},
  commonLabels: {},
  commonAnnotations: {},
  externalURL: "http://127.0.0.1:9093",
  alerts,
});
const alert = (status: string, flag: string) => ({
  status,
  labels: { alertname: "FlagwrightFlagErrorRateHigh", flag, severity: "critical" },
  annotations: { summary: "s" },
  startsAt: "2026-01-01T00:00:00Z",
  endsAt: "0001-01-01T00:00:00Z",
  generatorURL: "http://127.0.0.1:9090/graph",
  fingerprint: "abc",
});

describe("parseAlertmanagerWebhook", () => {
  it("returns the firing alerts only", () => {
    const firing = parseAlertmanagerWebhook(payload([alert("firing", "a"), alert("resolved", "b")]));
    expect(firing).toEqual([
      {
        labels: { alertname: "FlagwrightFlagErrorRateHigh", flag: "a", severity: "critical" },
        annotations: { summary: "s" },
        startsAt: "2026-01-01T00:00:00Z",
        fingerprint: "abc",
      },
    ]);
  });

  it.each([
    ["not an object", [1, 2]],
    ["no alerts", { version: "4" }],
    ["an alert without status", { alerts: [{ labels: { alertname: "A" } }] }],
    ["labels that are not strings", { alerts: [{ status: "firing", labels: { alertname: "A", n: 1 } }] }],
    ["no alertname", { alerts: [{ status: "firing", labels: {} }] }],
  ])("rejects %s", (_label, body) => {
    expect(() => parseAlertmanagerWebhook(body)).toThrow(WebhookPayloadError);
  });
});

describe("flagsMatchingAlerts", () => {
  it("selects the flags whose analysis names the alert with matching labels", () => {
    const mk = (name: string, flag?: string) => ({
      spec: {
        enabled: true,
        rollout: {
          canary: {
            steps: [{ percent: 1 }],
            analysis: { alerts: [{ alertName: name, ...(flag && { matchLabels: { flag } }) }] },
          },
        },
      },
    });
    const flags = [
      mk("FlagwrightFlagErrorRateHigh", "a"),
      mk("FlagwrightFlagErrorRateHigh", "b"),
      mk("Other"),
      mk("FlagwrightFlagErrorRateHigh"),
    ];
    const firing: FiringAlert[] = [{ labels: { alertname: "FlagwrightFlagErrorRateHigh", flag: "a" } }];
    expect(flagsMatchingAlerts(flags, firing)).toEqual([flags[0], flags[3]]);
  });
});

describe("alertmanagerWebhook router", () => {
  let server: Server;
  let url: string;
  const received: FiringAlert[][] = [];
  let fail = false;
  // Read on every request, like the mounted Secret file the operator re-reads.
  let currentToken = "tok3n";

  beforeAll(async () => {
    const app = express();
    app.use(
      alertmanagerWebhook({
        token: () => currentToken,
        onAlerts: async (alerts) => {
          if (fail) throw new Error("queue closed");
          received.push(alerts);
        },
      }),
    );
    server = await new Promise((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${WEBHOOK_PATH}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const post = (body: string, headers: Record<string, string> = { authorization: "Bearer tok3n" }) =>
    fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

  it("hands firing alerts to onAlerts and answers 200", async () => {
    const res = await post(JSON.stringify(payload([alert("firing", "a"), alert("resolved", "b")])));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ firing: 1 });
    expect(received.at(-1)?.map((a) => a.labels.flag)).toEqual(["a"]);
  });

  it.each([
    ["no Authorization header", {}],
    ["a wrong token", { authorization: "Bearer nope" }],
    ["a longer token", { authorization: "Bearer tok3n-and-more" }],
    ["basic auth", { authorization: `Basic ${Buffer.from("u:tok3n").toString("base64")}` }],
  ])("answers 401 with %s, without calling onAlerts", async (_label, headers) => {
    const before = received.length;
    const res = await post(JSON.stringify(payload([alert("firing", "a")])), headers);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain("Bearer");
    expect(received.length).toBe(before);
  });

  it("checks the token before reading the body: an oversized unauthenticated request gets 401", async () => {
    const big = JSON.stringify(
      payload([{ ...alert("firing", "a"), annotations: { x: "y".repeat(2 << 20) } }]),
    );
    const res = await post(big, { authorization: "Bearer nope" });
    expect(res.status).toBe(401);
  });

  it("uses the token as it is now: a rotated token takes over, an emptied one refuses everyone", async () => {
    const body = JSON.stringify(payload([alert("firing", "a")]));
    try {
      currentToken = "rotated";
      expect((await post(body)).status).toBe(401);
      expect((await post(body, { authorization: "Bearer rotated" })).status).toBe(200);
      currentToken = "";
      expect((await post(body, { authorization: "Bearer " })).status).toBe(401);
      expect((await post(body, { authorization: "Bearer rotated" })).status).toBe(401);
    } finally {
      currentToken = "tok3n";
    }
  });

  it("answers 413 for bodies over 1 MiB", async () => {
    const big = JSON.stringify(
      payload([{ ...alert("firing", "a"), annotations: { x: "y".repeat(1024 * 1024) } }]),
    );
    const res = await post(big);
    expect(res.status).toBe(413);
  });

  it.each([
    ["malformed JSON", "{"],
    ["a payload without alerts", JSON.stringify({ version: "4" })],
    ["a JSON string", JSON.stringify("hello")],
  ])("answers 400 for %s", async (_label, body) => {
    const res = await post(body);
    expect(res.status).toBe(400);
  });

  it("answers 500 when onAlerts fails, so Alertmanager retries", async () => {
    fail = true;
    try {
      const res = await post(JSON.stringify(payload([alert("firing", "a")])));
      expect(res.status).toBe(500);
    } finally {
      fail = false;
    }
  });

  it("refuses to be built without a token", () => {
    expect(() => alertmanagerWebhook({ token: "", onAlerts: () => {} })).toThrow(/needs a bearer token/);
  });
});
