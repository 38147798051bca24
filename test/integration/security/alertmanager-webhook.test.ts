// Abuse cases of POST /webhooks/alertmanager on the real operator process's listener (the port
// that also serves probes and metrics): the route exists only with --webhook-token-file, refuses
// missing or wrong bearer tokens (checked before the body is read) and bodies over 1 MiB, and
// follows a rotated token file without a restart. test/unit/rollout/webhook.test.ts has the
// router's cases; test/integration/rollout/canary-e2e.test.ts a real Alertmanager pushing to it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WEBHOOK_MAX_BYTES, WEBHOOK_PATH } from "../../../src/operator/alert-intake.js";
import { testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { waitFor } from "../../support/wait.js";

const notification = (annotation = "s") =>
  JSON.stringify({
    version: "4",
    status: "firing",
    receiver: "flagwright",
    alerts: [
      {
        status: "firing",
        labels: { alertname: "FlagwrightFlagErrorRateHigh", flag: "nothing-here" },
        annotations: { summary: annotation },
      },
    ],
  });

let ns: Awaited<ReturnType<typeof testNamespace>>;
let dir: string;
let tokenFile: string;
let operator: OperatorProcess;

const post = (body: string, authorization?: string, base = operator.url) =>
  fetch(`${base}${WEBHOOK_PATH}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(authorization && { authorization }) },
    body,
  });

beforeAll(async () => {
  ns = await testNamespace("am-webhook");
  dir = mkdtempSync(join(tmpdir(), "flagwright-am-token-"));
  tokenFile = join(dir, "token");
  writeFileSync(tokenFile, "first-token\n");
  operator = await startOperator([`--namespaces=${ns.name}`, `--webhook-token-file=${tokenFile}`]);
});

afterAll(async () => {
  await operator?.stop();
  rmSync(dir, { recursive: true, force: true });
  await ns?.remove();
});

describe("the operator's Alertmanager webhook", () => {
  it("accepts a notification with the bearer token from the file", async () => {
    const res = await post(notification(), "Bearer first-token");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ firing: 1 });
  });

  it.each([
    ["no Authorization header", undefined],
    ["a wrong token", "Bearer second-token"],
    ["the token as Basic credentials", `Basic ${Buffer.from("alertmanager:first-token").toString("base64")}`],
    ["the token without the Bearer scheme", "first-token"],
  ])("answers 401 to %s and logs the refusal", async (_label, authorization) => {
    const before = operator.logs.length;
    const res = await post(notification(), authorization);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="flagwright"');
    await waitFor(
      () =>
        operator.logs
          .slice(before)
          .find((l) => String(l.msg).includes("rejected request without a valid bearer token")),
      { what: "the operator to log the refused webhook request" },
    );
  });

  it("answers 401, not 413, to an oversized body without the token: nothing is read before auth", async () => {
    const res = await post(notification("x".repeat(2 * WEBHOOK_MAX_BYTES)), "Bearer wrong");
    expect(res.status).toBe(401);
  });

  it("answers 413 to a body over 1 MiB even with the token", async () => {
    const res = await post(notification("x".repeat(WEBHOOK_MAX_BYTES)), "Bearer first-token");
    expect(res.status).toBe(413);
  });

  it("follows a rotated token file without a restart", async () => {
    writeFileSync(tokenFile, "second-token\n");
    expect((await post(notification(), "Bearer first-token")).status).toBe(401);
    expect((await post(notification(), "Bearer second-token")).status).toBe(200);
  });

  it("refuses everyone while the token file is empty (500: Alertmanager retries once it is fixed)", async () => {
    writeFileSync(tokenFile, "\n");
    const before = operator.logs.length;
    try {
      const res = await post(notification(), "Bearer second-token");
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: "the webhook's bearer token is unavailable" });
      expect((await post(notification(), "Bearer ")).status).toBe(500);
      // One structured line naming the cause, not Express's default stack trace on stderr.
      const line = await waitFor(
        () => operator.logs.slice(before).find((l) => l.reason === "WebhookTokenUnavailable"),
        { what: "the operator to log why the webhook refuses everyone" },
      );
      expect(String(line.err)).toContain("--webhook-token-file");
      expect(String(line.err)).toContain("file is empty");
    } finally {
      writeFileSync(tokenFile, "second-token\n");
    }
    expect((await post(notification(), "Bearer second-token")).status).toBe(200);
  });

  it("has no webhook route without --webhook-token-file", async () => {
    const plain = await startOperator([`--namespaces=${ns.name}`]);
    try {
      const res = await post(notification(), "Bearer second-token", plain.url);
      expect(res.status).toBe(404);
    } finally {
      await plain.stop();
    }
  });
});
