// The in-process provider must answer exactly as the sidecar does, for any document and user,
// and follow its file like the sidecar (ConfigurationChanged on reload, last good on bad input).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import {
  type EvaluationContext,
  type EvaluationDetails,
  type JsonValue,
  OpenFeature,
  ProviderEvents,
} from "@openfeature/server-sdk";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDocument, type ResolvedFlag } from "../../../src/core/index.js";
import { FlagwrightProvider } from "../../../src/provider/index.js";
import type { Sidecar } from "../../../src/sidecar/index.js";
import { waitFor } from "../../support/wait.js";
import { kubeletWrite, makeDocument, post, startTestSidecar, tempDir } from "../sidecar/helpers.js";

const userArb = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom("vip", "alice", "42"),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }),
);

const flagArb: fc.Arbitrary<ResolvedFlag> = fc
  .record({
    enabled: fc.boolean(),
    killed: fc.constantFrom(false, false, true),
    percent: fc.oneof(
      fc.constantFrom(0, 100, 50),
      fc.integer({ min: 0, max: 10000 }).map((n) => n / 100),
    ),
    allowedUsers: fc.subarray(["vip", "alice", "bob"]),
    variantWeights: fc.option(fc.constantFrom([50, 50], [20, 30, 50], [0, 100], [100, 0, 0]), {
      nil: undefined,
    }),
    defaultValue: fc.option(fc.string({ maxLength: 5 }), { nil: undefined }),
  })
  .map(({ variantWeights, defaultValue, ...f }) => {
    const flag: ResolvedFlag = { ...f, revision: "r" };
    if (variantWeights) {
      flag.variants = variantWeights.map((weight, i) => ({ name: `v${i}`, weight, value: `value-${i}` }));
      if (defaultValue !== undefined) flag.defaultValue = defaultValue;
    }
    return flag;
  });

const docArb = fc
  .dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), flagArb, { minKeys: 1, maxKeys: 4 })
  .map((flags) => buildDocument("ns", flags));

describe("in-process provider vs sidecar", () => {
  let sidecar: Sidecar;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    dir = await tempDir();
    await writeFile(join(dir.path, "flags.json"), JSON.stringify(makeDocument({ x: {} })));
    sidecar = await startTestSidecar({
      source: { kind: "file", path: join(dir.path, "flags.json"), pollIntervalMs: 0 },
    });
    await sidecar.ready();
    await OpenFeature.setProviderAndWait("remote", new OFREPProvider({ baseUrl: sidecar.url }));
  });

  afterAll(async () => {
    await OpenFeature.clearProviders();
    await sidecar?.close();
    await dir?.remove();
  });

  // HTTP round trips per generated case: allow for a busy machine running the suite in parallel.
  it("gives the same answer for generated documents and users", { timeout: 30_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(docArb, fc.array(userArb, { minLength: 1, maxLength: 4 }), async (doc, users) => {
        expect(sidecar.store.offer(JSON.stringify(doc), "test")).toBe(true);
        await OpenFeature.setProviderAndWait("local", new FlagwrightProvider({ document: doc }));
        const local = OpenFeature.getClient("local");
        const remote = OpenFeature.getClient("remote");
        for (const key of [...Object.keys(doc.flags), "unknown-flag"]) {
          const isVariant = doc.flags[key]?.variants !== undefined;
          for (const user of users) {
            const context: EvaluationContext = user === undefined ? {} : { targetingKey: user };
            const fallback = isVariant ? "caller-default" : true;
            const get = (c: typeof local): Promise<EvaluationDetails<JsonValue>> =>
              isVariant
                ? c.getStringDetails(key, fallback as string, context)
                : c.getBooleanDetails(key, true, context);
            const mine = await get(local);
            // 1. Against the sidecar's OFREP answer on the wire.
            const wire = await post(`${sidecar.url}/ofrep/v1/evaluate/flags/${key}`, { context });
            const body = wire.json as Record<string, unknown>;
            if (wire.status === 200) {
              expect(mine.errorCode).toBeUndefined();
              expect(mine.value).toEqual(body.value);
              expect(mine.variant).toBe(body.variant);
              expect(mine.reason).toBe(body.reason);
              expect(mine.flagMetadata).toEqual(body.metadata);
            } else {
              expect(mine.errorCode).toBe(body.errorCode);
              expect(mine.value).toEqual(fallback);
            }
            // 2. Against the OFREP provider through the SDK: every answer, errors included.
            expect(mine).toEqual(await get(remote));
          }
        }
      }),
      { numRuns: 30 },
    );
  });
});

describe("in-process provider following a file", () => {
  it("emits ConfigurationChanged on a kubelet-style swap and keeps the last good document", async () => {
    const dir = await tempDir();
    try {
      const v1 = makeDocument({ checkout: { percent: 0 }, stable: { percent: 100 } });
      await kubeletWrite(dir.path, { "flags.json": JSON.stringify(v1) });
      const errors: Error[] = [];
      const provider = new FlagwrightProvider({
        path: dir.path,
        pollIntervalMs: 0,
        onDocumentError: (e) => errors.push(e),
      });
      await OpenFeature.setProviderAndWait("file", provider);
      const client = OpenFeature.getClient("file");
      expect(await client.getBooleanValue("checkout", true, { targetingKey: "u" })).toBe(false);

      const changes: string[][] = [];
      client.addHandler(ProviderEvents.ConfigurationChanged, (e) => {
        changes.push(e?.flagsChanged ?? []);
      });
      const v2 = makeDocument({ checkout: { percent: 100, revision: "r2" }, stable: { percent: 100 } });
      await kubeletWrite(dir.path, { "flags.json": JSON.stringify(v2) });
      await waitFor(() => changes.length === 1, { what: "ConfigurationChanged" });
      expect(changes[0]).toEqual(["checkout"]);
      expect(await client.getBooleanValue("checkout", false, { targetingKey: "u" })).toBe(true);

      await kubeletWrite(dir.path, { "flags.json": '{"version":1,"flags":' });
      await waitFor(() => errors.length === 1, { what: "document error reported" });
      expect(errors[0]?.message).toMatch(/not valid JSON/);
      expect(provider.document?.revision).toBe(v2.revision);
      expect(await client.getBooleanValue("checkout", false, { targetingKey: "u" })).toBe(true);
      await OpenFeature.clearProviders();
    } finally {
      await dir.remove();
    }
  });

  it("becomes ready when a missing document appears", async () => {
    const dir = await tempDir();
    try {
      const provider = new FlagwrightProvider({ path: join(dir.path, "flags.json"), pollIntervalMs: 20 });
      await expect(OpenFeature.setProviderAndWait("late", provider)).rejects.toThrow(
        /no valid flag document/,
      );
      const client = OpenFeature.getClient("late");
      const ready = new Promise<void>((resolve) => client.addHandler(ProviderEvents.Ready, () => resolve()));
      await writeFile(join(dir.path, "flags.json"), JSON.stringify(makeDocument({ f: {} })));
      await ready;
      expect(await client.getBooleanValue("f", false, {})).toBe(true);
      await OpenFeature.clearProviders();
    } finally {
      await dir.remove();
    }
  });
});
