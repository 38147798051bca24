// Sidecar exposures and POST /track conversions, attributed to the deterministic variant.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { evaluate } from "../../../src/core/index.js";
import type { Sidecar, SidecarOptions } from "../../../src/sidecar/index.js";
import { makeDocument, metricValue, post, startTestSidecar, tempDir } from "../sidecar/helpers.js";

const doc = makeDocument({
  banner: {
    percent: 100,
    variants: [
      { name: "red", weight: 50 },
      { name: "blue", weight: 50 },
    ],
  },
  plain: { percent: 100 },
  targeted: {
    percent: 100,
    variants: [
      { name: "red", weight: 50 },
      { name: "blue", weight: 50 },
    ],
    rules: [{ name: "staff", when: 'email.endsWith("@acme.com")', serve: { variant: "blue" } }],
  },
  dark: {
    percent: 0,
    variants: [
      { name: "a", weight: 50 },
      { name: "b", weight: 50 },
    ],
  },
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function setup(exposures?: SidecarOptions["exposures"]): Promise<Sidecar> {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const file = join(dir.path, "flags.json");
  await writeFile(file, JSON.stringify(doc));
  const sidecar = await startTestSidecar({
    source: { kind: "file", path: file },
    ...(exposures && { exposures }),
  });
  cleanups.push(() => sidecar.close());
  await sidecar.ready();
  return sidecar;
}

const metrics = async (s: Sidecar) => (await fetch(`${s.url}/metrics`)).text();
const evalFlag = (s: Sidecar, key: string, user: string) =>
  post(`${s.url}/ofrep/v1/evaluate/flags/${key}`, { context: { targetingKey: user } });
const variantOf = (user: string) => evaluate(doc, "banner", { targetingKey: user }).variant as string;

describe("exposures", () => {
  it("counts the first evaluation per user and flag by default", async () => {
    const s = await setup();
    const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    for (const u of users) {
      await evalFlag(s, "banner", u);
      await evalFlag(s, "banner", u); // repeat: not a new exposure
    }
    const text = await metrics(s);
    for (const variant of ["red", "blue"]) {
      expect(
        metricValue(text, "flagwright_exposures_total", { namespace: "shop", flag: "banner", variant }),
      ).toBe(users.filter((u) => variantOf(u) === variant).length);
    }
  });

  it("counts flags with variants only", async () => {
    const s = await setup();
    await evalFlag(s, "plain", "alice");
    expect(metricValue(await metrics(s), "flagwright_exposures_total", { flag: "plain" })).toBeUndefined();
  });

  it("counts every evaluation in mode every", async () => {
    const s = await setup({ mode: "every" });
    for (let i = 0; i < 3; i++) await evalFlag(s, "banner", "alice");
    const text = await metrics(s);
    expect(
      metricValue(text, "flagwright_exposures_total", { flag: "banner", variant: variantOf("alice") }),
    ).toBe(3);
  });
});

describe("POST /track", () => {
  it("attributes conversions to the user's variant, once per user and event", async () => {
    const s = await setup();
    const r = await post(`${s.url}/track`, {
      flag: "banner",
      targetingKey: "alice",
      event: "purchase",
      value: 12.5,
    });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ flag: "banner", variant: variantOf("alice"), event: "purchase", counted: true });
    const again = await post(`${s.url}/track`, { flag: "banner", targetingKey: "alice", event: "purchase" });
    expect(again.json?.counted).toBe(false);
    await post(`${s.url}/track`, { flag: "banner", targetingKey: "alice", event: "signup" });
    const text = await metrics(s);
    const labels = { namespace: "shop", flag: "banner", variant: variantOf("alice") };
    expect(metricValue(text, "flagwright_conversions_total", { ...labels, event: "purchase" })).toBe(1);
    expect(metricValue(text, "flagwright_conversions_total", { ...labels, event: "signup" })).toBe(1);
    expect(metricValue(text, "flagwright_conversion_value_total", { ...labels, event: "purchase" })).toBe(
      12.5,
    );
  });

  it("rejects bad bodies and unknown flags, and does not count users without a variant", async () => {
    const s = await setup();
    expect((await post(`${s.url}/track`, "{")).status).toBe(400);
    const missing = await post(`${s.url}/track`, { flag: "banner", event: "x" });
    expect(missing.status).toBe(400);
    expect(missing.json?.errorDetails).toContain("targetingKey");
    expect(
      (await post(`${s.url}/track`, { flag: "banner", targetingKey: "a", event: "has space" })).status,
    ).toBe(400);
    expect((await post(`${s.url}/track`, { flag: "nope", targetingKey: "a", event: "x" })).status).toBe(404);
    const off = await post(`${s.url}/track`, { flag: "dark", targetingKey: "a", event: "x" });
    expect(off.json).toMatchObject({ counted: false, reason: "no variant for this user" });
    expect((await fetch(`${s.url}/track`)).status).toBe(405);
    expect(metricValue(await metrics(s), "flagwright_conversions_total", { flag: "dark" })).toBeUndefined();
  });

  it("evaluates /track with the posted context: users a rule serves a fixed variant are not counted", async () => {
    const s = await setup();
    const staff = await post(`${s.url}/track`, {
      flag: "targeted",
      targetingKey: "s1",
      event: "x",
      context: { email: "s1@acme.com" },
    });
    expect(staff.json).toMatchObject({ counted: false, reason: "no variant for this user" });
    const customer = await post(`${s.url}/track`, {
      flag: "targeted",
      targetingKey: "c1",
      event: "x",
      context: { email: "c1@example.com" },
    });
    expect(customer.json).toMatchObject({ counted: true });
    expect(
      (await post(`${s.url}/track`, { flag: "targeted", targetingKey: "c", event: "x", context: [] })).status,
    ).toBe(400);
  });
});
