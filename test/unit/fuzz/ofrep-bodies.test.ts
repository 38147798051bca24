// OFREP request bodies an application (or an attacker on localhost) might send: generated JSON of
// every shape, raw bytes (invalid UTF-8), huge and deeply nested bodies, wrong content types. The
// sidecar's HTTP handler must answer each with OFREP's status and error body (docs/evaluation.md)
// and keep serving.
import { request } from "node:http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sidecar } from "../../../src/sidecar/index.js";
import { kubeletWrite, makeDocument, startTestSidecar, tempDir } from "../sidecar/helpers.js";

const MAX_BODY = 64 * 1024;
const ERROR_CODES = ["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "GENERAL"];

let sidecar: Sidecar;
let dir: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  dir = await tempDir();
  const doc = makeDocument({
    plain: { percent: 50 },
    split: {
      variants: [
        { name: "a", weight: 50 },
        { name: "b", weight: 50 },
      ],
    },
  });
  await kubeletWrite(dir.path, { "flags.json": JSON.stringify(doc) });
  sidecar = await startTestSidecar({
    source: { kind: "file", path: dir.path, pollIntervalMs: 0 },
    maxBodyBytes: MAX_BODY,
  });
  await sidecar.ready();
});

afterAll(async () => {
  await sidecar?.close();
  await dir?.remove();
});

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** POSTs raw bytes; `chunked` leaves out Content-Length so only the streamed size can trip 413. */
function post(path: string, body: Buffer, { contentType = "application/json", chunked = false } = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (contentType) headers["content-type"] = contentType;
    if (!chunked) headers["content-length"] = body.length;
    const req = request(`${sidecar.url}${path}`, { method: "POST", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        text += d;
      });
      res.on("end", () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          reject(new Error(`HTTP ${res.statusCode}: body is not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    // The server may answer 413 and close before the whole upload is sent: that is fine.
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE" && error.code !== "ECONNRESET") reject(error);
    });
    if (chunked) {
      for (let i = 0; i < body.length; i += 16 * 1024) req.write(body.subarray(i, i + 16 * 1024));
      req.end();
    } else req.end(body);
  });
}

const single = (body: Buffer, opts?: Parameters<typeof post>[2]) =>
  post("/ofrep/v1/evaluate/flags/plain", body, opts);
const bulk = (body: Buffer, opts?: Parameters<typeof post>[2]) =>
  post("/ofrep/v1/evaluate/flags", body, opts);

/** The documented answers: 200 success, or 400 with an OFREP error code (single: with the key). */
function expectOfrepAnswer(answer: Answer, route: "single" | "bulk") {
  if (answer.status === 200) {
    if (route === "single") expect(answer.body).toMatchObject({ key: "plain", reason: expect.any(String) });
    else expect(answer.body.flags).toHaveLength(2);
    return;
  }
  expect(answer.status).toBe(400);
  expect(ERROR_CODES).toContain(answer.body.errorCode);
  expect(answer.body.errorDetails).toEqual(expect.any(String));
  if (route === "single") expect(answer.body.key).toBe("plain");
}

async function expectStillServing() {
  const res = await fetch(`${sidecar.url}/ofrep/v1/evaluate/flags/plain`, {
    method: "POST",
    body: JSON.stringify({ context: { targetingKey: "still-up" } }),
  });
  expect(res.status).toBe(200);
}

describe("OFREP request bodies", () => {
  it("answers generated JSON bodies with 200 or a 400 OFREP error, on both routes", async () => {
    const contextValue = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
      fc.record({ targetingKey: fc.jsonValue({ maxDepth: 1 }) }),
    );
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record({ context: contextValue }),
      fc.record({ context: contextValue, extra: fc.jsonValue({ maxDepth: 1 }) }),
    );
    await fc.assert(
      fc.asyncProperty(body, async (value) => {
        const bytes = Buffer.from(JSON.stringify(value));
        expectOfrepAnswer(await single(bytes), "single");
        expectOfrepAnswer(await bulk(bytes), "bulk");
      }),
      { numRuns: 150 },
    );
    await expectStillServing();
  });

  it("a targetingKey of the wrong type is INVALID_CONTEXT on both routes", async () => {
    for (const targetingKey of [7, true, { id: "u" }, ["u"]]) {
      const bytes = Buffer.from(JSON.stringify({ context: { targetingKey } }));
      const one = await single(bytes);
      expect(one).toMatchObject({ status: 400, body: { key: "plain", errorCode: "INVALID_CONTEXT" } });
      const all = await bulk(bytes);
      expect(all).toMatchObject({ status: 400, body: { errorCode: "INVALID_CONTEXT" } });
    }
  });

  it("answers raw bytes (invalid UTF-8, truncated JSON, binary) with 200 or a 400 OFREP error", async () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      // Valid JSON with invalid UTF-8 spliced into a string.
      fc
        .uint8Array({ minLength: 1, maxLength: 8 })
        .map((b) =>
          Buffer.concat([
            Buffer.from('{"context":{"targetingKey":"'),
            Buffer.from(b.map((x) => x | 0x80)),
            Buffer.from('"}}'),
          ]),
        ),
      fc.tuple(fc.jsonValue({ maxDepth: 3 }), fc.double({ min: 0, max: 1, noNaN: true })).map(([v, f]) => {
        const text = JSON.stringify({ context: v });
        return Buffer.from(text.slice(0, Math.floor(text.length * f)));
      }),
    );
    await fc.assert(
      fc.asyncProperty(bytes, async (b) => {
        expectOfrepAnswer(await single(b), "single");
        expectOfrepAnswer(await bulk(b), "bulk");
      }),
      { numRuns: 150 },
    );
    await expectStillServing();
  });

  it("non-JSON bodies are a 400 PARSE_ERROR or INVALID_CONTEXT whatever the content type", async () => {
    for (const contentType of ["application/json", "text/plain", "application/x-www-form-urlencoded", ""]) {
      for (const text of ["targetingKey=u", "<context/>", "{", "\u0000"]) {
        const one = await single(Buffer.from(text), { contentType });
        expect(one.status, `${contentType} ${JSON.stringify(text)}`).toBe(400);
        expect(["PARSE_ERROR", "INVALID_CONTEXT"]).toContain(one.body.errorCode);
        expect((await bulk(Buffer.from(text), { contentType })).status).toBe(400);
      }
      // A JSON body is evaluated whatever the declared type (clients send text/plain too).
      const ok = await single(Buffer.from('{"context":{"targetingKey":"u"}}'), { contentType });
      expect(ok.status).toBe(200);
    }
  });

  it("deeply nested contexts are answered, not a crash (the body limit bounds the depth)", async () => {
    const depth = MAX_BODY / 2 - 100;
    const nested = Buffer.from(
      `{"context":{"targetingKey":"u","deep":${"[".repeat(depth)}${"]".repeat(depth)}}}`,
    );
    expectOfrepAnswer(await single(nested), "single");
    expectOfrepAnswer(await bulk(nested), "bulk");
    const unbalanced = Buffer.from(`{"context":${'{"a":'.repeat(depth / 3)}`);
    expectOfrepAnswer(await single(unbalanced), "single");
    await expectStillServing();
  });

  it("bodies over the limit get 413, declared or streamed, and the server stays up", async () => {
    const huge = Buffer.from(JSON.stringify({ context: { targetingKey: "u", pad: "x".repeat(MAX_BODY) } }));
    for (const chunked of [false, true]) {
      const one = await single(huge, { chunked });
      expect(one.status, `chunked=${chunked}`).toBe(413);
      expect(one.body.errorDetails).toMatch(/exceeds/);
      expect((await bulk(huge, { chunked })).status).toBe(413);
    }
    // 4 MiB streamed without a length: refused without buffering it all.
    const bigger = Buffer.alloc(4 * 1024 * 1024, 0x20);
    expect((await bulk(bigger, { chunked: true })).status).toBe(413);
    await expectStillServing();
  });
});
