// OFREP conformance: every answer of the two evaluation endpoints validates against the response
// schema the OpenAPI document gives for its status (test/fixtures/ofrep/openapi.yaml, source noted
// there), event stream payloads validate against `sseEvent`, and a schema-valid request is
// answered 400 only where the protocol provides for it.
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
import { makeDocument, post, startTestSidecar, tempDir } from "./helpers.js";

type Schema = Record<string, unknown>;

const openapi = parse(
  await readFile(new URL("../../fixtures/ofrep/openapi.yaml", import.meta.url), "utf8"),
) as { components: { schemas: Record<string, Schema> } };

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

// Every kind of answer the core produces: each reason, value type, and the code-default answer.
const doc = makeDocument({
  half: { percent: 50 },
  everyone: { percent: 100 },
  nobody: { percent: 0 },
  off: { enabled: false, percent: 100 },
  killed: { killed: true, percent: 100 },
  vip: { percent: 0, allowedUsers: ["alice"] },
  colour: {
    percent: 100,
    variants: [
      { name: "red", weight: 50, value: "#f00" },
      { name: "blue", weight: 50 },
    ],
  },
  limits: {
    percent: 100,
    variants: [
      { name: "small", weight: 50, value: { max: 3, tags: ["a"] } },
      { name: "large", weight: 50, value: { max: 30, nested: { ok: true } } },
    ],
  },
  ratio: {
    percent: 100,
    variants: [
      { name: "whole", weight: 50, value: 3 },
      { name: "fraction", weight: 50, value: 0.25 },
    ],
  },
  // Off with variants and no defaultValue: OFREP's code-default answer (no `value`).
  "code-default": { percent: 0, variants: [{ name: "on", weight: 100 }] },
  "off-with-default": { percent: 0, defaultValue: "plain", variants: [{ name: "x", weight: 100 }] },
});
const keys = [...Object.keys(doc.flags), "missing-flag"];

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
const bulk = (body: unknown) => post(`${sidecar.url}/ofrep/v1/evaluate/flags`, body);

const contexts: unknown[] = [
  { context: { targetingKey: "alice" } },
  { context: { targetingKey: "user-7", plan: "pro", age: 31, beta: true } },
  { context: { targetingKey: "" } },
  { context: {} },
  {},
];

describe("OFREP schema conformance", () => {
  it("the literal codeDefaultFlag oneOf rejects an ordinary success: the reason for the patch above", async () => {
    const r = await single("everyone", { context: { targetingKey: "alice" } });
    expect(r.status).toBe(200);
    expect(literal("serverEvaluationSuccess", r.json)).toMatch(/oneOf/);
    expect(conforming("serverEvaluationSuccess", r.json)).toBeUndefined();
  });

  it("single-flag answers validate against the schema for their status", async () => {
    const seen = new Set<string>();
    for (const key of keys) {
      for (const body of contexts) {
        const r = await single(key, body);
        const schema = singleSchemas[r.status];
        expect(schema, `${key} ${JSON.stringify(body)} -> ${r.status}`).toBeDefined();
        expect(
          conforming(schema as string, r.json),
          `${key} ${JSON.stringify(body)}: ${r.text}`,
        ).toBeUndefined();
        seen.add(`${r.status}:${(r.json?.reason ?? r.json?.errorCode) as string}`);
      }
    }
    // The run covered every kind of answer, including the code default and integer/float values.
    expect([...seen].sort()).toEqual(
      expect.arrayContaining([
        "200:DISABLED",
        "200:SPLIT",
        "200:STATIC",
        "200:TARGETING_MATCH",
        "400:TARGETING_KEY_MISSING",
        "404:FLAG_NOT_FOUND",
      ]),
    );
    const codeDefault = await single("code-default", { context: { targetingKey: "u" } });
    expect(codeDefault.json).not.toHaveProperty("value");
    expect(conforming("serverEvaluationSuccess", codeDefault.json)).toBeUndefined();
  });

  it("bulk answers validate, including eventStreams, per-flag failures and the 400", async () => {
    for (const body of contexts) {
      const r = await bulk(body);
      expect(r.status).toBe(200);
      expect(conforming("bulkEvaluationSuccess", r.json), r.text).toBeUndefined();
      for (const item of (r.json?.flags ?? []) as unknown[]) {
        // Each item matches exactly one of success and failure once codeDefaultFlag means what
        // ADR 0006 says.
        const asSuccess = conforming("evaluationSuccess", item) === undefined;
        const asFailure = conforming("evaluationFailure", item) === undefined;
        expect(asSuccess !== asFailure, JSON.stringify(item)).toBe(true);
      }
    }
    const bad = await bulk({ context: { targetingKey: 42 } });
    expect(bad.status).toBe(400);
    expect(conforming("bulkEvaluationFailure", bad.json)).toBeUndefined();
  });

  it("event stream payloads validate against sseEvent", async () => {
    const stream = await openSse(`${sidecar.url}/ofrep/v1/events`);
    try {
      await writeFile(file, JSON.stringify({ ...doc, revision: "conformance-2" }));
      const event = await stream.event(0);
      expect(conforming("sseEvent", JSON.parse(event.data))).toBeUndefined();
    } finally {
      stream.close();
      await writeFile(file, JSON.stringify(doc));
      await stream.event(0);
    }
  });

  it("a schema-valid request is answered 400 only with TARGETING_KEY_MISSING or INVALID_CONTEXT, as documented", async () => {
    // Schema-valid: any JSON value (the request schemas have no `type`), with `context`, when
    // present, an object. Our documented 400s: a flag that needs a user and no non-empty string
    // targetingKey (TARGETING_KEY_MISSING, an OFREP evaluationFailure code), and a targetingKey
    // that is not a string (INVALID_CONTEXT, likewise).
    const context = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
    const request = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }).filter((v) => v === null || typeof v !== "object" || Array.isArray(v)),
      fc.record({ context }, { requiredKeys: [] }),
      fc.record({ context: fc.record({ targetingKey: fc.oneof(fc.string(), fc.jsonValue()) }) }),
    );
    await fc.assert(
      fc.asyncProperty(request, fc.constantFrom(...keys), async (body, key) => {
        expect(conforming("evaluationRequest", body)).toBeUndefined();
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
        } else expect([200, 404]).toContain(one.status);
        expect(conforming(singleSchemas[one.status] as string, one.json)).toBeUndefined();

        const all = await bulk(JSON.stringify(body));
        expect(all.status).toBe(wrongType ? 400 : 200);
        expect(conforming(bulkSchemas[all.status] as string, all.json)).toBeUndefined();
      }),
      { numRuns: 150 },
    );
  });

  it('an empty-string targetingKey means "no user", exactly like a missing one', async () => {
    for (const key of keys) {
      const empty = await single(key, { context: { targetingKey: "" } });
      const missing = await single(key, { context: {} });
      expect({ status: empty.status, body: empty.json }, key).toEqual({
        status: missing.status,
        body: missing.json,
      });
    }
    const empty = await bulk({ context: { targetingKey: "" } });
    const missing = await bulk({ context: {} });
    expect(empty.json).toEqual(missing.json);
    expect(empty.headers.get("etag")).toBe(missing.headers.get("etag"));
  });
});
