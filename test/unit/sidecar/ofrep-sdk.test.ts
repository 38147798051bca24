// The sidecar as applications use it: the real OpenFeature server SDK with the OFREP provider.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { OpenFeature } from "@openfeature/server-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluate } from "../../../src/core/index.js";
import type { Sidecar } from "../../../src/sidecar/index.js";
import { makeDocument, startTestSidecar, tempDir } from "./helpers.js";

const doc = makeDocument({
  "new-checkout": { percent: 50, allowedUsers: ["vip"] },
  "kill-me": { killed: true },
  banner: {
    variants: [
      { name: "red", weight: 50, value: "#f00" },
      { name: "blue", weight: 50, value: "#00f" },
    ],
    defaultValue: "#000",
  },
  layout: {
    variants: [
      { name: "grid", weight: 30, value: { columns: 3, dense: true } },
      { name: "list", weight: 70, value: { columns: 1, dense: false } },
    ],
    defaultValue: { columns: 2, dense: false },
  },
});

let sidecar: Sidecar;
let dir: Awaited<ReturnType<typeof tempDir>>;
const client = () => OpenFeature.getClient("ofrep-sdk-test");

beforeAll(async () => {
  dir = await tempDir();
  await writeFile(join(dir.path, "flags.json"), JSON.stringify(doc));
  sidecar = await startTestSidecar({ source: { kind: "file", path: dir.path } });
  await sidecar.ready();
  await OpenFeature.setProviderAndWait("ofrep-sdk-test", new OFREPProvider({ baseUrl: sidecar.url }));
});

afterAll(async () => {
  await OpenFeature.clearProviders();
  await sidecar?.close();
  await dir?.remove();
});

describe("sidecar through @openfeature/server-sdk + @openfeature/ofrep-provider", () => {
  it("boolean flags: allow-list, split and kill switch", async () => {
    const vip = await client().getBooleanDetails("new-checkout", false, { targetingKey: "vip" });
    expect(vip).toMatchObject({ value: true, variant: "on", reason: "TARGETING_MATCH" });
    expect(vip.errorCode).toBeUndefined();
    for (const user of ["1", "2", "3", "4", "5", "42"]) {
      const d = await client().getBooleanDetails("new-checkout", false, { targetingKey: user });
      expect(d.value).toBe(evaluate(doc, "new-checkout", { targetingKey: user }).value);
      expect(d.reason).toBe("SPLIT");
    }
    const killed = await client().getBooleanDetails("kill-me", true, { targetingKey: "u" });
    expect(killed).toMatchObject({ value: false, reason: "DISABLED" });
    expect(killed.flagMetadata).toMatchObject({ killed: true, documentRevision: doc.revision });
  });

  it("string flags serve the hashed variant's value", async () => {
    for (const user of ["alice", "bob", "carol", "dave"]) {
      const d = await client().getStringDetails("banner", "none", { targetingKey: user });
      const want = evaluate(doc, "banner", { targetingKey: user });
      expect(d).toMatchObject({ value: want.value, variant: want.variant, reason: "SPLIT" });
    }
  });

  it("object flags serve JSON values", async () => {
    const d = await client().getObjectDetails("layout", {}, { targetingKey: "alice" });
    const want = evaluate(doc, "layout", { targetingKey: "alice" });
    expect(d.value).toEqual(want.value);
    expect(d.variant).toBe(want.variant);
  });

  it("an unknown flag gives the caller's default with FLAG_NOT_FOUND", async () => {
    const d = await client().getBooleanDetails("no-such-flag", true, { targetingKey: "u" });
    expect(d).toMatchObject({ value: true, reason: "ERROR", errorCode: "FLAG_NOT_FOUND" });
  });

  it("a missing targeting key gives the caller's default with TARGETING_KEY_MISSING", async () => {
    const d = await client().getBooleanDetails("new-checkout", true, {});
    expect(d).toMatchObject({ value: true, reason: "ERROR", errorCode: "TARGETING_KEY_MISSING" });
    // Picking a variant needs a user too, even at 100 %...
    const banner = await client().getStringDetails("banner", "none", {});
    expect(banner).toMatchObject({ value: "none", errorCode: "TARGETING_KEY_MISSING" });
    // ...but a flag that needs no user answers without one.
    expect(await client().getBooleanDetails("kill-me", true, {})).toMatchObject({
      value: false,
      reason: "DISABLED",
    });
  });

  it("a type mismatch is reported, not silently coerced", async () => {
    const d = await client().getNumberDetails("banner", 7, { targetingKey: "alice" });
    expect(d).toMatchObject({ value: 7, errorCode: "TYPE_MISMATCH" });
  });
});
