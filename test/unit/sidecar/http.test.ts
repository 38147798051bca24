// Raw HTTP behaviour of the sidecar: OFREP status codes and bodies, ETag/304, readiness, metrics,
// malformed documents, exposure log and graceful shutdown.
import { readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { evaluate } from "../../../src/core/index.js";
import type { Sidecar } from "../../../src/sidecar/index.js";
import { waitFor } from "../../support/wait.js";
import { makeDocument, metricValue, post, startTestSidecar, tempDir } from "./helpers.js";

const doc = makeDocument({
  "new-checkout": { percent: 50 },
  everyone: { percent: 100 },
  banner: {
    percent: 100,
    variants: [
      { name: "red", weight: 50, value: "#f00" },
      { name: "blue", weight: 50 },
    ],
  },
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** content null: start with no document file. */
async function setup(content: string | null = JSON.stringify(doc), extra: { exposureLog?: string } = {}) {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const file = join(dir.path, "flags.json");
  if (content !== null) await writeFile(file, content);
  const sidecar = await startTestSidecar({
    source: { kind: "file", path: file, pollIntervalMs: 50 },
    ...extra,
  });
  cleanups.push(() => sidecar.close());
  return { sidecar, file, dir: dir.path };
}

const single = (s: Sidecar, key: string) => `${s.url}/ofrep/v1/evaluate/flags/${encodeURIComponent(key)}`;
const bulk = (s: Sidecar) => `${s.url}/ofrep/v1/evaluate/flags`;

describe("OFREP single evaluation", () => {
  it("200 with key, value, reason, variant and metadata", async () => {
    const { sidecar } = await setup();
    const r = await post(single(sidecar, "banner"), { context: { targetingKey: "alice" } });
    const want = evaluate(doc, "banner", { targetingKey: "alice" });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^application\/json/);
    expect(r.json).toEqual({
      key: "banner",
      value: want.value,
      reason: "SPLIT",
      variant: want.variant,
      metadata: { flagRevision: "r1", documentRevision: doc.revision },
    });
  });

  it("400 TARGETING_KEY_MISSING only when the flag needs a user", async () => {
    const { sidecar } = await setup();
    const r = await post(single(sidecar, "new-checkout"), { context: {} });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ key: "new-checkout", errorCode: "TARGETING_KEY_MISSING" });
    expect(String(r.json?.errorDetails)).toContain("targeting key");
    expect((await post(single(sidecar, "everyone"), {})).status).toBe(200);
    expect((await post(single(sidecar, "everyone"), "")).status).toBe(200);
  });

  it("400 INVALID_CONTEXT for a malformed body or context", async () => {
    const { sidecar } = await setup();
    for (const body of [
      "{not json",
      '{"context":[1]}',
      '{"context":"x"}',
      '{"context":{"targetingKey":7}}',
    ]) {
      const r = await post(single(sidecar, "everyone"), body);
      expect(r.status, body).toBe(400);
      expect(r.json, body).toMatchObject({ key: "everyone", errorCode: "INVALID_CONTEXT" });
    }
  });

  it("a JSON body that is not an object is a request without context (OFREP's schema allows it)", async () => {
    const { sidecar } = await setup();
    for (const body of ["[]", "42", '"x"', "null", "true"]) {
      expect((await post(single(sidecar, "everyone"), body)).status, body).toBe(200);
      expect((await post(single(sidecar, "new-checkout"), body)).json, body).toMatchObject({
        errorCode: "TARGETING_KEY_MISSING",
      });
    }
  });

  it("404 FLAG_NOT_FOUND for an unknown flag", async () => {
    const { sidecar } = await setup();
    const r = await post(single(sidecar, "no such/flag"), { context: { targetingKey: "u" } });
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ key: "no such/flag", errorCode: "FLAG_NOT_FOUND" });
    // A key that is not even valid percent-encoding is a bad request, not a server error.
    expect((await post(`${sidecar.url}/ofrep/v1/evaluate/flags/%E0%A4%A`, {})).status).toBe(400);
  });

  it("413 for an oversized body, declared or streamed", async () => {
    const dir = await tempDir();
    cleanups.push(dir.remove);
    await writeFile(join(dir.path, "flags.json"), JSON.stringify(doc));
    const sidecar = await startTestSidecar({ source: { kind: "file", path: dir.path }, maxBodyBytes: 1024 });
    cleanups.push(() => sidecar.close());
    await sidecar.ready();
    const big = JSON.stringify({ context: { targetingKey: "u", pad: "x".repeat(5000) } });
    expect((await post(single(sidecar, "everyone"), big)).status).toBe(413);
    expect((await post(bulk(sidecar), big)).status).toBe(413);
    // Without Content-Length (chunked upload) the limit still holds.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(single(sidecar, "everyone"), { method: "POST" }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.write(big.slice(0, 3000));
      req.end(big.slice(3000));
    });
    expect(status).toBe(413);
  });

  it("405 for the wrong method", async () => {
    const { sidecar } = await setup();
    const r = await fetch(single(sidecar, "everyone"));
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("POST");
  });
});

describe("OFREP bulk evaluation", () => {
  it("evaluates every flag, with per-flag errors when a user is missing", async () => {
    const { sidecar } = await setup();
    const r = await post(bulk(sidecar), { context: {} });
    expect(r.status).toBe(200);
    const flags = r.json?.flags as Array<Record<string, unknown>>;
    expect(flags.map((f) => f.key).sort()).toEqual(["banner", "everyone", "new-checkout"]);
    expect(flags.find((f) => f.key === "everyone")).toMatchObject({ value: true, reason: "STATIC" });
    expect(flags.find((f) => f.key === "new-checkout")).toMatchObject({ errorCode: "TARGETING_KEY_MISSING" });
  });

  it("ETag / If-None-Match -> 304 until the document or the user changes", async () => {
    const { sidecar, file } = await setup();
    const body = { context: { targetingKey: "alice" } };
    const first = await post(bulk(sidecar), body);
    const etag = first.headers.get("etag") as string;
    expect(etag).toMatch(/^".+"$/);
    const again = await post(bulk(sidecar), body, { "if-none-match": etag });
    expect(again.status).toBe(304);
    expect(again.text).toBe("");
    expect(again.headers.get("etag")).toBe(etag);
    expect((await post(bulk(sidecar), body, { "if-none-match": `"other", W/${etag}` })).status).toBe(304);
    expect((await post(bulk(sidecar), body, { "if-none-match": "*" })).status).toBe(304);
    // Another user's answers differ, so their tag does too.
    const bob = await post(bulk(sidecar), { context: { targetingKey: "bob" } }, { "if-none-match": etag });
    expect(bob.status).toBe(200);
    expect(bob.headers.get("etag")).not.toBe(etag);
    // A new document invalidates the tag.
    const next = makeDocument({ everyone: { percent: 0 } });
    await writeFile(file, JSON.stringify(next));
    await waitFor(() => sidecar.store.current?.document.revision === next.revision, { what: "reload" });
    const changed = await post(bulk(sidecar), body, { "if-none-match": etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
    expect(changed.json).toMatchObject({ flags: [{ key: "everyone", value: false }] });
  });

  it("400 for a malformed context", async () => {
    const { sidecar } = await setup();
    const r = await post(bulk(sidecar), '{"context":{"targetingKey":{"id":1}}}');
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ errorCode: "INVALID_CONTEXT" });
  });
});

describe("readiness, reloads and metrics", () => {
  it("/readyz is 503 and evaluations 503 until the first good document", async () => {
    const { sidecar, file } = await setup(null);
    expect((await fetch(`${sidecar.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${sidecar.url}/readyz`)).status).toBe(503);
    const r = await post(single(sidecar, "everyone"), {});
    expect(r.status).toBe(503);
    await writeFile(file, "{ half a docu");
    await waitFor(
      async () =>
        metricValue(
          await (await fetch(`${sidecar.url}/metrics`)).text(),
          "flagwright_sidecar_reload_failures_total",
          {
            kind: "parse",
          },
        ) === 1,
      { what: "parse failure counted" },
    );
    expect((await fetch(`${sidecar.url}/readyz`)).status).toBe(503);
    await writeFile(file, JSON.stringify(doc));
    await waitFor(async () => (await fetch(`${sidecar.url}/readyz`)).status === 200, { what: "ready" });
  });

  it("a malformed document keeps the previous one serving, counts a failure, stays ready", async () => {
    const { sidecar, file } = await setup();
    await sidecar.ready();
    const metrics = async () => (await fetch(`${sidecar.url}/metrics`)).text();
    const failures = async () =>
      metricValue(await metrics(), "flagwright_sidecar_reload_failures_total", {
        source: "file",
        kind: "parse",
      });
    expect(await failures()).toBe(0);
    const bad = JSON.parse(JSON.stringify(doc));
    bad.flags.everyone.percent = 250;
    await writeFile(file, JSON.stringify(bad));
    await waitFor(async () => (await failures()) === 1, { what: "failure metric" });
    expect((await fetch(`${sidecar.url}/readyz`)).status).toBe(200);
    const r = await post(single(sidecar, "everyone"), {});
    expect(r.json).toMatchObject({ value: true, metadata: { documentRevision: doc.revision } });
    expect(metricValue(await metrics(), "flagwright_sidecar_document_info", { revision: doc.revision })).toBe(
      1,
    );
    // An unreadable file is a read failure, and the document still serves.
    await rm(file);
    await waitFor(
      async () =>
        metricValue(await metrics(), "flagwright_sidecar_reload_failures_total", { kind: "read" }) === 1,
      {
        what: "read failure",
      },
    );
    expect((await post(single(sidecar, "everyone"), {})).status).toBe(200);
  });

  it("counts evaluations by flag, variant and reason", async () => {
    const { sidecar } = await setup();
    await post(single(sidecar, "everyone"), {});
    await post(single(sidecar, "everyone"), {});
    await post(single(sidecar, "new-checkout"), {});
    await post(single(sidecar, "missing"), {});
    const text = await (await fetch(`${sidecar.url}/metrics`)).text();
    const evals = (labels: Record<string, string>) =>
      metricValue(text, "flagwright_sidecar_evaluations_total", labels);
    expect(evals({ flag: "everyone", variant: "on", reason: "STATIC" })).toBe(2);
    expect(evals({ flag: "new-checkout", reason: "ERROR" })).toBe(1);
    expect(metricValue(text, "flagwright_sidecar_unknown_flag_evaluations_total")).toBe(1);
    expect(metricValue(text, "flagwright_sidecar_reloads_total", { source: "file" })).toBe(1);
    expect(metricValue(text, "flagwright_sidecar_document_age_seconds")).toBeGreaterThanOrEqual(0);
  });
});

describe("exposure log and shutdown", () => {
  it("writes one JSON line per single evaluation with a hashed user", async () => {
    const logDir = await tempDir();
    cleanups.push(logDir.remove);
    const log = join(logDir.path, "exposures.jsonl");
    const { sidecar } = await setup(null, { exposureLog: log });
    // setup() had no document; give it one through the store for this test.
    sidecar.store.offer(JSON.stringify(doc), "test");
    await post(single(sidecar, "banner"), { context: { targetingKey: "alice" } });
    await post(single(sidecar, "banner"), { context: {} });
    await sidecar.close();
    const lines = (await readFile(log, "utf8")).trim().split("\n");
    expect(lines).toHaveLength(1);
    const event = JSON.parse(lines[0] as string);
    expect(event).toMatchObject({ flag: "banner", reason: "SPLIT", revision: doc.revision });
    expect(event.variant).toBe(evaluate(doc, "banner", { targetingKey: "alice" }).variant);
    expect(event.user).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(event)).not.toContain("alice");
  });

  it("close() finishes in-flight requests and refuses new ones", async () => {
    const { sidecar } = await setup();
    await sidecar.ready();
    // Start a request whose body is still arriving when shutdown begins.
    const inFlight = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(single(sidecar, "everyone"), { method: "POST" }, (res) => {
        let body = "";
        res.on("data", (c) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      // Shut down once the server is handling this request, then let the body finish arriving.
      sidecar.server.once("request", () => {
        void sidecar.close();
        setTimeout(() => req.end("{}}"), 20);
      });
      req.write('{"context":');
    });
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ value: true });
    await sidecar.close();
    await expect(fetch(`${sidecar.url}/healthz`)).rejects.toThrow();
  });
});
