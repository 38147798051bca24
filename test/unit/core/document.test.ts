import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  buildDocument,
  canonicalJson,
  DocumentError,
  documentRevision,
  type FlagDocument,
  parseDocument,
  type ResolvedFlag,
  sameCanonicalJson,
} from "../../../src/core/index.js";

const flag = (over: Partial<ResolvedFlag> = {}): ResolvedFlag => ({
  enabled: true,
  killed: false,
  percent: 25,
  allowedUsers: [],
  revision: "r1",
  ...over,
});

function doc(flags: Record<string, unknown>, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { version: 1, revision: "abc", namespace: "shop", flags, ...over };
}

function problemsOf(input: unknown): string[] {
  try {
    parseDocument(input);
  } catch (error) {
    expect(error).toBeInstanceOf(DocumentError);
    return (error as DocumentError).problems;
  }
  throw new Error("expected parseDocument to throw");
}

describe("parseDocument", () => {
  it("accepts a valid document from text or object and freezes it", () => {
    const value = doc({
      "new-checkout": flag({
        variants: [
          { name: "a", weight: 40, value: { c: 1 } },
          { name: "b", weight: 60 },
        ],
      }),
    });
    const parsed = parseDocument(JSON.stringify(value));
    expect(parsed.flags["new-checkout"]?.variants?.[0]?.value).toEqual({ c: 1 });
    expect(Object.isFrozen(parsed.flags["new-checkout"])).toBe(true);
    expect(parseDocument(value)).toEqual(parsed);
    // Parsing an object does not freeze the caller's copy.
    expect(Object.isFrozen(value)).toBe(false);
  });

  it("names the flag and the field in its messages", () => {
    expect(problemsOf(doc({ "new-checkout": flag({ percent: 150 }) }))).toEqual([
      'flags["new-checkout"].percent: must be between 0 and 100',
    ]);
    expect(problemsOf(doc({ "new-checkout": flag({ percent: 12.345 }) }))[0]).toMatch(
      /^flags\["new-checkout"\]\.percent: must have at most two decimals/,
    );
    const { killed: _k, ...noKilled } = flag();
    expect(problemsOf(doc({ x: noKilled }))).toEqual(['flags["x"].killed: is required']);
    expect(problemsOf(doc({ x: flag({ allowedUsers: ["ok", 7 as unknown as string] }) }))).toEqual([
      'flags["x"].allowedUsers[1]: must be string',
    ]);
    expect(
      problemsOf(
        doc({
          x: flag({
            variants: [
              { name: "a", weight: 50 },
              { name: "b", weight: 30 },
            ],
          }),
        }),
      ),
    ).toEqual(['flags["x"].variants: weights must add up to 100 (got 80)']);
    expect(
      problemsOf(
        doc({
          x: flag({
            variants: [
              { name: "a", weight: 50 },
              { name: "a", weight: 50 },
            ],
          }),
        }),
      ),
    ).toEqual(['flags["x"].variants[1].name: duplicate variant "a"']);
    expect(problemsOf(doc({ x: flag({ variants: [{ name: "a", weight: 100.5 }] }) }))).toContain(
      'flags["x"].variants[0].weight: must be integer',
    );
  });

  it("reports every problem, and document-level ones too", () => {
    const problems = problemsOf(doc({ a: flag({ percent: -1 }), b: flag({ enabled: "yes" as never }) }));
    expect(problems).toEqual(
      expect.arrayContaining([
        'flags["a"].percent: must be between 0 and 100',
        'flags["b"].enabled: must be boolean',
      ]),
    );
    expect(problemsOf("{not json")[0]).toMatch(/^document: not valid JSON/);
    expect(problemsOf("[]")).toEqual(["document: must be a JSON object"]);
    expect(problemsOf({ version: 1, revision: "r", namespace: "n" })).toEqual(["flags: is required"]);
  });

  it("refuses a newer version with a clear message and ignores additive fields", () => {
    expect(problemsOf(doc({}, { version: 3 }))).toEqual([
      "version: document version 3 is newer than this reader supports (2); upgrade flagwright",
    ]);
    const parsed = parseDocument(doc({ x: { ...flag(), futureField: { any: 1 } } }, { shards: 3 }));
    expect(parsed.flags.x?.percent).toBe(25);
  });
});

describe("documentRevision", () => {
  it("is stable under key order and changes with content", () => {
    const a = { x: flag(), y: flag({ percent: 5 }) };
    const b = {
      y: { revision: "r1", percent: 5, allowedUsers: [], killed: false, enabled: true },
      x: flag(),
    };
    expect(documentRevision(a)).toBe(documentRevision(b));
    expect(documentRevision(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(documentRevision({ ...a, y: flag({ percent: 6 }) })).not.toBe(documentRevision(a));
    const built: FlagDocument = buildDocument("shop", a, new Date("2026-01-01T00:00:00Z"));
    expect(parseDocument(built)).toMatchObject({
      revision: documentRevision(a),
      generatedAt: "2026-01-01T00:00:00.000Z",
    });
  });
});

describe("canonicalJson", () => {
  /** The straightforward form: entries filtered, sorted and joined. */
  const reference = (value: unknown): string => {
    if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
    if (Array.isArray(value)) return `[${value.map(reference).join(",")}]`;
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(",")}}`;
  };

  it("equals the straightforward form on any JSON value, with undefined members and any key order", () => {
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: "small" },
        fc.constantFrom(null, true, false, undefined),
        fc.double(),
        fc.string({ unit: "binary" }),
        fc.array(tie("node")),
        fc.dictionary(fc.string({ unit: "binary" }), tie("node")),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => canonicalJson(v) === reference(v)),
      { numRuns: 2000 },
    );
  });

  it("sorts keys at every level and leaves out undefined members", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: undefined }], c: "x" } })).toBe(
      '{"a":{"c":"x","d":[1,{"z":0}]},"b":1}',
    );
  });
});

describe("sameCanonicalJson", () => {
  const value = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: "small" },
      fc.constantFrom(null, true, false, undefined, 0, -0, Number.NaN),
      fc.double(),
      fc.string({ unit: "binary" }),
      fc.array(tie("node")),
      fc.dictionary(fc.constantFrom("a", "b", "c", "0", "1"), tie("node")),
    ),
  })).node;

  it("agrees with comparing canonical JSON texts, on unrelated and on near-equal values", () => {
    fc.assert(
      fc.property(
        value,
        value,
        (a, b) => sameCanonicalJson(a, b) === (canonicalJson(a) === canonicalJson(b)),
      ),
      { numRuns: 3000 },
    );
    // Near-equal pairs: the same value with its keys in another order, or with undefined members added.
    fc.assert(
      fc.property(value, (a) => {
        const reordered = JSON.parse(canonicalJson(a)) as unknown;
        const padded = structuredClone(a);
        if (padded !== null && typeof padded === "object" && !Array.isArray(padded))
          (padded as Record<string, unknown>).zz = undefined;
        return (
          sameCanonicalJson(a, reordered) === (canonicalJson(a) === canonicalJson(reordered)) &&
          sameCanonicalJson(a, padded)
        );
      }),
      { numRuns: 3000 },
    );
  });
});
