// OFREP conformance against the protocol's current version (0.3.0, test/fixtures/ofrep/openapi.yaml;
// source and version in the README there): every kind of flag, through single and bulk
// evaluation, answers the documented status, reason or error code (docs/reference.md, "OFREP
// conformance"), and every answer (status, headers, body) validates against the response schema
// the document gives for its status. Event stream messages validate against `sseEvent` and their
// data against `sseEventData`.
//
// Two places where the document cannot be applied literally, handled here on purpose:
//  1. `codeDefaultFlag` (ADR 0006) is `{type: object}` with no properties and nothing required, and
//     sits in `evaluationSuccess`'s `oneOf` beside booleanFlag, stringFlag, ... Every success with a
//     `value` therefore matches two branches, and `oneOf` (exactly one) rejects every success
//     response. In a bulk answer it also makes a failure item ({key, errorCode}) match
//     `evaluationSuccess` as well as `evaluationFailure`. The ADR's intent is "a success without
//     `value`", so the test gives the schema that meaning: not `value`, not `errorCode`. The literal
//     schema is checked too, to show the problem is real (see the first test).
//  2. `integerFlag` (`type: integer`) and `floatFlag` (`type: number`) overlap: 3 is both, so a
//     whole-number value matches two branches. `floatFlag` is read as "a number that is not an
//     integer".
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { Sidecar } from "../../../src/sidecar/index.js";
import { openSse } from "../../support/sse.js";
import { post, startTestSidecar, tempDir } from "./helpers.js";
import { cases, casesDocument as doc } from "./ofrep-cases.js";

type Schema = Record<string, unknown>;

const openapi = parse(
  await readFile(new URL("../../fixtures/ofrep/openapi.yaml", import.meta.url), "utf8"),
) as { info: { version: string }; components: { schemas: Record<string, Schema> } };

/** The document's schemas as one JSON Schema 2020-12 resource, with `patch` applied. */
function validatorFor(patch: Record<string, Schema>) {
  const text = JSON.stringify({ ...openapi.components.schemas, ...patch }).replaceAll(
    "#/components/schemas/",
    "#/$defs/",
  );
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  (addFormatsModule as unknown as (a: Ajv2020) => void)(ajv);
  ajv.addSchema({ $id: "ofrep", $defs: JSON.parse(text) });
  return (name: string, data: unknown): string | undefined => {
    const validate = ajv.getSchema(`ofrep#/$defs/${name}`);
    if (validate === undefined) throw new Error(`no schema ${name}`);
    return validate(data) ? undefined : ajv.errorsText(validate.errors);
  };
}

const literal = validatorFor({});
const conforming = validatorFor({
  codeDefaultFlag: {
    type: "object",
    not: { anyOf: [{ required: ["value"] }, { required: ["errorCode"] }] },
  },
  floatFlag: { properties: { value: { type: "number", not: { type: "integer" } } }, required: ["value"] },
});

// Status -> response schema, per endpoint, from the document's paths.
const singleSchemas: Record<number, string> = {
  200: "serverEvaluationSuccess",
  400: "evaluationFailure",
  404: "flagNotFound",
  500: "generalErrorResponse",
};
const bulkSchemas: Record<number, string> = {
  200: "bulkEvaluationSuccess",
  400: "bulkEvaluationFailure",
  500: "generalErrorResponse",
};

let sidecar: Sidecar;
let dir: Awaited<ReturnType<typeof tempDir>>;
let file: string;
beforeAll(async () => {
  dir = await tempDir();
  file = join(dir.path, "flags.json");
  await writeFile(file, JSON.stringify(doc));
  sidecar = await startTestSidecar({ source: { kind: "file", path: file, pollIntervalMs: 20 } });
});
afterAll(async () => {
  await sidecar?.close();
  await dir?.remove();
});

const single = (key: string, body: unknown) =>
  post(`${sidecar.url}/ofrep/v1/evaluate/flags/${encodeURIComponent(key)}`, body);
const bulk = (body: unknown, headers: Record<string, string> = {}) =>
  post(`${sidecar.url}/ofrep/v1/evaluate/flags`, body, headers);

/** The value a variant flag serves for `variant`: its value, else its name. */
function variantValue(key: string, variant: string): unknown {
  const v = doc.flags[key]?.variants?.find((x) => x.name === variant);
  return v === undefined ? undefined : (v.value ?? v.name);
}

describe("OFREP 0.3.0 conformance", () => {
  it("the fixture is OFREP 0.3.0, and its literal codeDefaultFlag oneOf rejects an ordinary success: the reason for the patch above", async () => {
    expect(openapi.info.version).toBe("0.3.0");
    const r = await single("on", { context: { targetingKey: "alice" } });
    expect(r.status).toBe(200);
    expect(literal("serverEvaluationSuccess", r.json)).toMatch(/oneOf/);
    expect(conforming("serverEvaluationSuccess", r.json)).toBeUndefined();
  });

  describe("single evaluation: every kind of flag answers as documented and validates", () => {
    for (const c of cases) {
      it(c.name, async () => {
        const r = await single(c.key, c.body);
        const label = `${c.key} ${JSON.stringify(c.body)}: ${r.status} ${r.text}`;
        expect(r.status, label).toBe(c.status);
        expect(r.headers.get("content-type"), label).toMatch(/^application\/json/);
        expect(conforming(singleSchemas[r.status] as string, r.json), label).toBeUndefined();
        const body = r.json as Record<string, unknown>;
        expect(body.key, label).toBe(c.key);
        if (c.errorCode !== undefined) {
          expect(body.errorCode, label).toBe(c.errorCode);
          expect(body, label).not.toHaveProperty("value");
          expect(typeof body.errorDetails, label).toBe("string");
          if (c.details) expect(body.errorDetails, label).toMatch(c.details);
          return;
        }
        // A success always carries a value (no code-default answers) and a reason from the list.
        expect(conforming("evaluationSuccess", body), label).toBeUndefined();
        expect(body.reason, label).toBe(c.reason);
        expect(body, label).toHaveProperty("value");
        if (c.value !== undefined) expect(body.value, label).toEqual(c.value);
        if (c.variant !== undefined) expect(body.variant, label).toBe(c.variant);
        if (c.metadata !== undefined) expect(body.metadata, label).toMatchObject(c.metadata);
        const variants = doc.flags[c.key]?.variants;
        if (variants !== undefined && body.variant !== undefined && c.value === undefined) {
          expect(body.value, label).toEqual(variantValue(c.key, body.variant as string));
        }
      });
    }
  });

  it("bulk evaluation: every item validates and equals the single-flag answer for the same context", async () => {
    const bodies = new Map<string, unknown>();
    for (const c of cases) bodies.set(JSON.stringify(c.body), c.body);
    for (const [text, body] of bodies) {
      const r = await bulk(body);
      const badRequest = cases.some(
        (c) => JSON.stringify(c.body) === text && c.status === 400 && c.errorCode === "INVALID_CONTEXT",
      );
      if (badRequest) {
        expect(r.status, text).toBe(400);
        expect(conforming("bulkEvaluationFailure", r.json), r.text).toBeUndefined();
        expect(r.json?.errorCode).toBe("INVALID_CONTEXT");
        continue;
      }
      expect(r.status, text).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^application\/json/);
      expect(r.headers.get("etag"), text).toMatch(/^"[^"]+"$/);
      expect(conforming(bulkSchemas[200] as string, r.json), r.text).toBeUndefined();
      const items = r.json?.flags as Record<string, unknown>[];
      expect(items.map((i) => i.key).sort()).toEqual(Object.keys(doc.flags).sort());
      for (const item of items) {
        const asSuccess = conforming("evaluationSuccess", item) === undefined;
        const asFailure = conforming("evaluationFailure", item) === undefined;
        expect(asSuccess !== asFailure, JSON.stringify(item)).toBe(true);
      }
      for (const c of cases) {
        if (JSON.stringify(c.body) !== text || c.status === 404) continue;
        const one = await single(c.key, c.body);
        expect(
          items.find((i) => i.key === c.key),
          c.name,
        ).toEqual(one.json);
      }
    }
  });

  it("bulk evaluation: If-None-Match with the ETag answers 304 without a body, a changed document 200 with a new ETag", async () => {
    const body = { context: { targetingKey: "alice" } };
    const first = await bulk(body);
    const etag = first.headers.get("etag") as string;
    const again = await bulk(body, { "if-none-match": etag });
    expect(again.status).toBe(304);
    expect(again.text).toBe("");
    expect(again.headers.get("etag")).toBe(etag);
    expect((await bulk(body, { "if-none-match": '"something-else"' })).status).toBe(200);
  });

  it("event stream messages validate against sseEvent, their data against sseEventData; the bulk answer advertises the stream", async () => {
    const advertised = await bulk({ context: { targetingKey: "alice" } });
    const streams = advertised.json?.eventStreams as { type: string; url: string }[];
    expect(streams).toHaveLength(1);
    for (const s of streams) expect(conforming("eventStream", s)).toBeUndefined();
    const stream = await openSse(streams[0]?.url as string);
    try {
      expect(stream.status).toBe(200);
      expect(stream.headers["content-type"]).toMatch(/^text\/event-stream/);
      const before = advertised.headers.get("etag") as string;
      // A change of content (one flag fewer): the sidecar derives its ETags from the content, so a
      // new revision string alone would not change them.
      const { [Object.keys(doc.flags)[0] as string]: _removed, ...fewer } = doc.flags;
      await writeFile(file, JSON.stringify({ ...doc, flags: fewer, revision: "conformance-2" }));
      const event = await stream.event(0);
      expect(conforming("sseEvent", event)).toBeUndefined();
      expect(conforming("sseEventData", JSON.parse(event.data))).toBeUndefined();
      expect(JSON.parse(event.data).type).toBe("refetchEvaluation");
      // The re-fetch the event asks for: the old ETag no longer matches.
      const after = await bulk({ context: { targetingKey: "alice" } }, { "if-none-match": before });
      expect(after.status).toBe(200);
      expect(after.headers.get("etag")).not.toBe(before);
    } finally {
      await writeFile(file, JSON.stringify(doc));
      await stream.event(1);
      stream.close();
    }
  });

  it("requests valid under 0.3.0 (context with a string targetingKey) get only the documented answers", async () => {
    const keys = [...Object.keys(doc.flags), "no-such-flag"];
    const attributes = fc.dictionary(
      fc.constantFrom("plan", "beta", "country", "email", "age", "tags"),
      fc.jsonValue({ maxDepth: 2 }),
      { maxKeys: 4 },
    );
    const request = fc
      .record({
        targetingKey: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom("alice", "seg-user")),
        attributes,
      })
      .map(({ targetingKey, attributes }) => ({ context: { ...attributes, targetingKey } }));
    await fc.assert(
      fc.asyncProperty(request, fc.constantFrom(...keys), async (body, key) => {
        expect(conforming("evaluationRequest", body)).toBeUndefined();
        const one = await single(key, body);
        expect(conforming(singleSchemas[one.status] as string, one.json), one.text).toBeUndefined();
        if (one.status === 200) expect(one.json).toHaveProperty("value");
        else if (one.status === 404) expect(key).toBe("no-such-flag");
        else if (one.status === 400) {
          // A string targetingKey is never invalid; only the empty one means "no user".
          expect(one.json?.errorCode).toBe("TARGETING_KEY_MISSING");
          expect(body.context.targetingKey).toBe("");
        } else {
          expect(one.status).toBe(500);
          expect(one.json?.errorCode).toBe("GENERAL");
          expect(["no-default", "killed-no-default"]).toContain(key);
        }
        const all = await bulk(body);
        expect(all.status).toBe(200);
        expect(conforming("bulkEvaluationSuccess", all.json), all.text).toBeUndefined();
      }),
      { numRuns: 100 },
    );
  });

  it("requests 0.3.0 calls invalid (no context, no targetingKey, not an object) are answered leniently, as documented", async () => {
    // Documented deviation: the sidecar accepts what older providers send. Without a user, flags
    // that need none answer 200; the rest TARGETING_KEY_MISSING. A targetingKey that is not a
    // string, or a context that is not an object, is INVALID_CONTEXT.
    const keys = [...Object.keys(doc.flags), "no-such-flag"];
    const context = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
    const request = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }).filter((v) => v === null || typeof v !== "object" || Array.isArray(v)),
      fc.record({ context }, { requiredKeys: [] }),
      fc.record({ context: fc.record({ targetingKey: fc.oneof(fc.string(), fc.jsonValue()) }) }),
    );
    await fc.assert(
      fc.asyncProperty(request, fc.constantFrom(...keys), async (body, key) => {
        const ctx = (body as { context?: Record<string, unknown> } | null)?.context;
        const hasOwnKey = ctx !== undefined && Object.hasOwn(ctx, "targetingKey");
        const tk = hasOwnKey ? ctx?.targetingKey : undefined;
        const wrongType = tk !== undefined && tk !== null && typeof tk !== "string";

        // Always as JSON text (the helper would send a bare string as is).
        const one = await single(key, JSON.stringify(body));
        if (one.status === 400) {
          if (wrongType) expect(one.json?.errorCode).toBe("INVALID_CONTEXT");
          else {
            expect(one.json?.errorCode).toBe("TARGETING_KEY_MISSING");
            expect(typeof tk === "string" && tk !== "").toBe(false);
          }
        } else if (one.status === 500) {
          expect(one.json?.errorCode).toBe("GENERAL");
        } else expect([200, 404]).toContain(one.status);
        expect(conforming(singleSchemas[one.status] as string, one.json)).toBeUndefined();

        const all = await bulk(JSON.stringify(body));
        expect(all.status).toBe(wrongType ? 400 : 200);
        expect(conforming(bulkSchemas[all.status] as string, all.json)).toBeUndefined();
      }),
      { numRuns: 100 },
    );
  });

  it('an empty-string targetingKey means "no user", exactly like a missing one', async () => {
    for (const key of [...Object.keys(doc.flags), "no-such-flag"]) {
      const empty = await single(key, { context: { targetingKey: "" } });
      const missing = await single(key, { context: {} });
      expect({ status: empty.status, body: empty.json }, key).toEqual({
        status: missing.status,
        body: missing.json,
      });
    }
    const empty = await bulk({ context: { targetingKey: "" } });
    const missing = await bulk({ context: {} });
    // Same answers; the ETags may differ, since with rules in the document it covers the whole context.
    expect(empty.json).toEqual(missing.json);
  });
});
