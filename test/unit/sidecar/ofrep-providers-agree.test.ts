// Every kind of flag (ofrep-cases.ts) through the two ways an application evaluates: the real
// OpenFeature server SDK with the JS OFREP provider against the sidecar, and the in-process
// FlagwrightProvider. Both must report the same value, variant, reason, error code and message,
// and that answer must be the documented one (docs/reference.md, "OFREP conformance").
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { type EvaluationDetails, type JsonValue, OpenFeature } from "@openfeature/server-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FlagwrightProvider } from "../../../src/provider/index.js";
import type { Sidecar } from "../../../src/sidecar/index.js";
import { startTestSidecar, tempDir } from "./helpers.js";
import { cases, casesDocument as doc } from "./ofrep-cases.js";

let sidecar: Sidecar;
let dir: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  dir = await tempDir();
  await writeFile(join(dir.path, "flags.json"), JSON.stringify(doc));
  sidecar = await startTestSidecar({ source: { kind: "file", path: dir.path } });
  await sidecar.ready();
  await OpenFeature.setProviderAndWait("agree-remote", new OFREPProvider({ baseUrl: sidecar.url }));
  await OpenFeature.setProviderAndWait("agree-local", new FlagwrightProvider({ document: doc }));
});

afterAll(async () => {
  await OpenFeature.clearProviders();
  await sidecar?.close();
  await dir?.remove();
});

/** The caller's default, of the flag's type (a distinct value, so "the default applies" shows). */
function callerDefault(key: string): JsonValue {
  const f = doc.flags[key];
  const sample = f?.variants?.[0]?.value ?? (f?.variants ? f.variants[0]?.name : true);
  if (typeof sample === "string") return "caller-default";
  if (typeof sample === "number") return -1;
  if (typeof sample === "object" && sample !== null) return { caller: "default" };
  return true;
}

async function details(domain: string, key: string, context: Record<string, unknown>) {
  const client = OpenFeature.getClient(domain);
  const fallback = callerDefault(key);
  const ctx = context as Parameters<typeof client.getBooleanDetails>[2];
  let d: EvaluationDetails<JsonValue>;
  if (typeof fallback === "boolean") d = await client.getBooleanDetails(key, fallback, ctx);
  else if (typeof fallback === "string") d = await client.getStringDetails(key, fallback, ctx);
  else if (typeof fallback === "number") d = await client.getNumberDetails(key, fallback, ctx);
  else d = await client.getObjectDetails(key, fallback, ctx);
  return {
    value: d.value,
    variant: d.variant,
    reason: d.reason,
    errorCode: d.errorCode,
    errorMessage: d.errorMessage,
    fallback,
  };
}

describe("the OFREP provider (sidecar) and the in-process provider agree on every kind of flag", () => {
  // The SDK sends a context object; a request whose context is not one cannot be made through it.
  const sdkCases = cases.filter((c) => {
    const context = (c.body as { context?: unknown }).context;
    return typeof context === "object" && context !== null && !Array.isArray(context);
  });
  for (const c of sdkCases) {
    it(c.name, async () => {
      const context = (c.body as { context: Record<string, unknown> }).context;
      const remote = await details("agree-remote", c.key, context);
      const local = await details("agree-local", c.key, context);
      expect(local, `${c.key} ${JSON.stringify(context)}`).toEqual(remote);
      if (c.errorCode !== undefined) {
        expect(remote).toMatchObject({ value: remote.fallback, reason: "ERROR", errorCode: c.errorCode });
        if (c.details) expect(remote.errorMessage).toMatch(c.details);
      } else {
        expect(remote.reason).toBe(c.reason);
        expect(remote.errorCode).toBeUndefined();
        if (c.value !== undefined) expect(remote.value).toEqual(c.value);
      }
    });
  }
});
