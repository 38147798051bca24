// Generated resolved documents, valid and garbage, through the parser and the sidecar's document
// store: nothing but DocumentError ever escapes parseDocument (each problem naming its field),
// whatever it accepts evaluates without throwing, and the store keeps serving the last good
// document when offered garbage.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  buildDocument,
  compileDocument,
  DocumentError,
  evaluate,
  type FlagDocument,
  parseDocument,
  type ResolvedFlag,
} from "../../../src/core/index.js";
import { DocumentStore } from "../../../src/source/store.js";
import { kubeletWrite, tempDir } from "../../support/flag-documents.js";
import { waitFor } from "../../support/wait.js";
import { startTestSidecar } from "../sidecar/helpers.js";

const flagKey = fc.string({ minLength: 1, maxLength: 12 });

// Valid flags as the operator writes them: percent with at most two decimals, weights adding to 100.
const resolvedFlag: fc.Arbitrary<ResolvedFlag> = fc
  .record({
    enabled: fc.boolean(),
    killed: fc.boolean(),
    percent: fc.integer({ min: 0, max: 10_000 }).map((p) => p / 100),
    allowedUsers: fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 3 }),
    variantCount: fc.integer({ min: 0, max: 4 }),
    defaultValue: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
  })
  .map(({ variantCount, defaultValue, ...f }) => {
    const variants = Array.from({ length: variantCount }, (_, i) => ({
      name: `v${i}`,
      weight: i === 0 ? 100 - 10 * (variantCount - 1) : 10,
      value: i,
    }));
    return {
      ...f,
      ...(variants.length > 0 && { variants }),
      ...(defaultValue !== undefined && { defaultValue }),
      revision: "r",
    };
  });

const validDocument: fc.Arbitrary<FlagDocument> = fc
  .dictionary(flagKey, resolvedFlag, { maxKeys: 5 })
  .map((flags) => buildDocument("ns", flags));

// Mutations of a valid document: one field set to a value of the wrong type or out of range, one
// required field dropped, or the whole thing replaced by something that is not a document.
const garbageValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double(),
  fc.integer({ min: -1000, max: 1000 }),
  fc.string({ maxLength: 5 }),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.constant({}),
  fc.constant(Number.NaN),
);

type Json = Record<string, unknown>;

const mutatedDocument = fc
  .tuple(validDocument, fc.nat(), fc.nat(), garbageValue, fc.boolean())
  .map(([doc, pickFlag, pickField, value, drop]) => {
    const copy = structuredClone(doc) as unknown as Json;
    const flags = copy.flags as Record<string, Json>;
    const keys = Object.keys(flags);
    const target: Json =
      keys.length > 0 && pickFlag % 3 !== 0 ? (flags[keys[pickFlag % keys.length] as string] as Json) : copy;
    const fields = Object.keys(target);
    const field = fields[pickField % fields.length] as string;
    if (drop) delete target[field];
    else target[field] = value;
    return copy;
  });

const anyInput = fc.oneof(
  validDocument.map((d) => JSON.stringify(d)),
  mutatedDocument.map((d) => JSON.stringify(d)),
  mutatedDocument,
  fc.jsonValue({ maxDepth: 4 }),
  fc.string({ maxLength: 200 }),
  // Truncated JSON, as a half-written file would read.
  fc.tuple(validDocument, fc.double({ min: 0, max: 1, noNaN: true })).map(([d, f]) => {
    const text = JSON.stringify(d);
    return text.slice(0, Math.floor(text.length * f));
  }),
  fc.uint8Array({ maxLength: 100 }).map((bytes) => Buffer.from(bytes).toString("utf8")),
);

/** parseDocument's outcome: the document, or the DocumentError; anything else fails the property. */
function parse(input: unknown): FlagDocument | DocumentError {
  try {
    return parseDocument(input);
  } catch (error) {
    if (error instanceof DocumentError) return error;
    throw new Error(`parseDocument threw ${String(error)} for ${JSON.stringify(input)?.slice(0, 300)}`);
  }
}

describe("document parser under generated input", () => {
  it("accepts every valid document", () => {
    fc.assert(
      fc.property(validDocument, (doc) => {
        const parsed = parse(JSON.stringify(doc));
        expect(parsed).not.toBeInstanceOf(DocumentError);
      }),
      { numRuns: 300 },
    );
  });

  it("never throws anything but a DocumentError naming the field, and what it accepts evaluates", () => {
    fc.assert(
      fc.property(anyInput, fc.string({ maxLength: 8 }), (input, user) => {
        const parsed = parse(input);
        if (parsed instanceof DocumentError) {
          expect(parsed.problems.length).toBeGreaterThan(0);
          // Every problem starts with the field it is about ("document", "version", "flags[...]...").
          for (const p of parsed.problems)
            expect(p).toMatch(/^(document|version|revision|namespace|generatedAt|flags)\b.*: /);
          return;
        }
        const compiled = compileDocument(parsed);
        for (const key of Object.keys(parsed.flags)) {
          for (const context of [{ targetingKey: user }, {}, { targetingKey: 7 }]) {
            const result = evaluate(compiled, key, context);
            expect(result.reason).toBeTypeOf("string");
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("the sidecar's store takes exactly what the parser accepts and otherwise keeps the last good document", () => {
    const good = buildDocument("ns", {
      a: { enabled: true, killed: false, percent: 50, allowedUsers: [], revision: "r" },
    });
    fc.assert(
      fc.property(anyInput, (input) => {
        const store = new DocumentStore();
        const failures: string[] = [];
        store.listen({ failed: (_kind, _origin, error) => failures.push(error.message) });
        expect(store.offer(JSON.stringify(good), "test")).toBe(true);
        const text = typeof input === "string" ? input : (JSON.stringify(input) ?? "");
        const accepted = store.offer(text, "test");
        const parsed = parse(text);
        expect(accepted).toBe(!(parsed instanceof DocumentError));
        if (!accepted) {
          expect(store.current?.document.revision).toBe(good.revision);
          expect(failures).toHaveLength(1);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("a running sidecar offered generated documents through its volume keeps answering from the last good one", async () => {
    const dir = await tempDir();
    const good = buildDocument("ns", {
      a: { enabled: true, killed: false, percent: 100, allowedUsers: [], revision: "r" },
    });
    await kubeletWrite(dir.path, { "flags.json": JSON.stringify(good) });
    const sidecar = await startTestSidecar({ source: { kind: "file", path: dir.path, pollIntervalMs: 0 } });
    try {
      await sidecar.ready();
      let outcomes = 0; // documents the store took or refused
      sidecar.store.listen({ loaded: () => outcomes++, failed: () => outcomes++ });
      const inputs = fc.sample(anyInput, { numRuns: 60, seed: 42 });
      let previousText = JSON.stringify(good);
      for (const input of inputs) {
        const text = typeof input === "string" ? input : (JSON.stringify(input) ?? "");
        if (text === previousText) continue; // the source only reports changed text
        previousText = text;
        const before = sidecar.store.current?.document.revision;
        const parsed = parse(text);
        const seen = outcomes;
        await kubeletWrite(dir.path, { "flags.json": text });
        await waitFor(() => outcomes > seen, { timeoutMs: 5000, what: "the sidecar to read the new file" });
        if (parsed instanceof DocumentError) expect(sidecar.store.current?.document.revision).toBe(before);
        const res = await fetch(`${sidecar.url}/ofrep/v1/evaluate/flags`, {
          method: "POST",
          body: JSON.stringify({ context: { targetingKey: "u" } }),
        });
        expect(res.status).toBe(200);
      }
    } finally {
      await sidecar.close();
      await dir.remove();
    }
  });
});
