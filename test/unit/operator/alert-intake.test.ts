// Alertmanager's pushes: the webhook router (token first, constant-time, 401; 413 over 1 MiB; 400
// for malformed payloads; firing alerts to onAlerts), mounted on a loopback express server here
// (the real Alertmanager POSTs to it in test/integration/rollout/prometheus.test.ts), and the
// intake that records a push in the status of the ramping flags it fails.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { CustomObjectsApi } from "@kubernetes/client-node";
import express from "express";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FeatureFlag, FeatureFlagStatus } from "../../../src/api/index.js";
import {
  AlertIntake,
  alertmanagerWebhook,
  parseAlertmanagerWebhook,
  WEBHOOK_PATH,
  WebhookPayloadError,
} from "../../../src/operator/alert-intake.js";
import { createOperatorMetrics } from "../../../src/operator/metrics.js";
import { pendingOutcomes } from "../../../src/operator/recorded-outcome.js";
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

describe("AlertIntake", () => {
  const NOW = new Date("2026-01-01T00:10:00.000Z");
  const ramping: FeatureFlagStatus = { phase: "Progressing", currentStepIndex: 0, currentPercent: 5 };
  const flag = (name: string, status: FeatureFlagStatus): FeatureFlag => ({
    apiVersion: "flagwright.dev/v1alpha1",
    kind: "FeatureFlag",
    metadata: { name, namespace: "ns", uid: `uid-${name}`, generation: 1 },
    spec: {
      enabled: true,
      rollout: {
        canary: {
          steps: [{ percent: 5, pause: "1m" }, { percent: 100 }],
          analysis: { alerts: [{ alertName: "ErrorRateHigh", matchLabels: { flag: name } }] },
        },
      },
    },
    status,
  });

  it("records a push in the status of the ramping flags it fails, as the planner reads it back", async () => {
    const patches: { name: string; body: { status: FeatureFlagStatus }; fieldManager: string }[] = [];
    const custom = {
      patchNamespacedCustomObjectStatus: async (request: {
        name: string;
        body: { status: FeatureFlagStatus };
        fieldManager: string;
      }) => {
        patches.push(request);
        return {};
      },
    } as unknown as CustomObjectsApi;
    // The leader's last counted check is ahead of this replica's clock: the push is stamped after it.
    const ahead = "2026-01-01T00:10:05.000Z";
    const flags = [
      flag("a", { ...ramping, lastAnalysis: { at: ahead, result: "Passed" } }),
      flag("b", ramping),
      flag("c", { ...ramping, phase: "Completed" }),
    ];
    const metrics = createOperatorMetrics();
    const intake = new AlertIntake({
      custom,
      log: pino({ level: "silent" }),
      metrics,
      flags: () => flags.values(),
      isLeader: () => false,
      now: () => NOW,
    });
    const hit = await intake.record([
      { labels: { alertname: "ErrorRateHigh", flag: "a" } },
      { labels: { alertname: "ErrorRateHigh", flag: "c" } },
    ]);
    expect(hit.map((f) => f.metadata.name)).toEqual(["a"]);
    expect(patches).toHaveLength(1);
    const [patch] = patches;
    expect(patch?.fieldManager).toBe("flagwright-alerts");
    expect(patch?.body.status.pushedAlert).toMatchObject({
      result: "Failed",
      reason: "Alert",
      alertName: "ErrorRateHigh",
      at: "2026-01-01T00:10:05.001Z",
    });
    expect(patch?.body.status.pushedAlert?.message).toContain("Alertmanager");
    // One codec: what the intake writes is the pending outcome the planner hands to decide().
    const status = { ...flags[0]?.status, ...patch?.body.status };
    expect(pendingOutcomes(status)).toEqual([
      expect.objectContaining({
        result: "Failed",
        alertName: "ErrorRateHigh",
        at: new Date("2026-01-01T00:10:05.001Z"),
      }),
    ]);
    expect(await metrics.registry.getSingleMetricAsString("flagwright_api_writes_total")).toContain(
      'kind="alert"} 1',
    );
  });
});
