// Targeting gives identical answers everywhere evaluation happens: the core, the sidecar (OFREP
// single through the real OpenFeature SDK with the OFREP provider, and bulk with the posted
// context), the in-process provider, and `flagwright eval --context`, for contexts with attributes.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { type EvaluationContext, OpenFeature } from "@openfeature/server-sdk";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildProgram } from "../../../src/cli/program.js";
import { buildDocument, evaluate, type ResolvedFlag } from "../../../src/core/index.js";
import { FlagwrightProvider } from "../../../src/provider/index.js";
import type { Sidecar } from "../../../src/sidecar/index.js";
import { seededRandom } from "../../support/seeded-random.js";
import { post, startTestSidecar, tempDir } from "../sidecar/helpers.js";

const base: ResolvedFlag = { enabled: true, killed: false, percent: 0, allowedUsers: [], revision: "r" };
const doc = buildDocument(
  "shop",
  {
    "new-search": {
      ...base,
      percent: 10,
      rules: [{ name: "employees", when: 'email.lower().endsWith("@acme.com")', serve: { enabled: true } }],
    },
    onboarding: {
      ...base,
      percent: 100,
      variants: [
        { name: "short", weight: 50, value: { steps: 3 } },
        { name: "guided", weight: 50, value: { steps: 7 } },
      ],
      defaultValue: { steps: 0 },
      rules: [
        { name: "old-apps", when: 'semverCompare(appVersion, "2.3.0") < 0', serve: { enabled: false } },
        { name: "eu", when: 'country in ["DE", "FR"]', serve: { variant: "guided" } },
      ],
    },
    reports: { ...base, rules: [{ name: "beta", segments: ["beta"], serve: { percent: 50 } }] },
    "one-click": { ...base, percent: 100, prerequisites: [{ flag: "new-search" }] },
  },
  undefined,
  { beta: { when: 'plan == "beta"', included: ["qa"], excluded: [] } },
);

function contexts(n: number): EvaluationContext[] {
  const random = seededRandom(7);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  return Array.from({ length: n }, (_, i) => {
    const c: EvaluationContext = { targetingKey: pick([`user-${i}`, "qa", `u${i}`]) };
    if (random() < 0.8) c.email = `${pick(["ada", "bob"])}@${pick(["acme.com", "ACME.com", "example.org"])}`;
    if (random() < 0.8) c.appVersion = pick(["2.2.9", "2.3.0-rc.1", "2.3.0", "2.10.0"]);
    if (random() < 0.8) c.country = pick(["DE", "US", "FR"]);
    if (random() < 0.8) c.plan = pick(["beta", "free"]);
    return c;
  });
}

const CONTEXTS = contexts(60);
const FLAGS = Object.keys(doc.flags);
let sidecar: Sidecar;
let dir: Awaited<ReturnType<typeof tempDir>>;
let file: string;

beforeAll(async () => {
  dir = await tempDir();
  file = join(dir.path, "flags.json");
  await writeFile(file, JSON.stringify(doc));
  sidecar = await startTestSidecar({ source: { kind: "file", path: dir.path } });
  await sidecar.ready();
  await OpenFeature.setProviderAndWait("targeting-remote", new OFREPProvider({ baseUrl: sidecar.url }));
  await OpenFeature.setProviderAndWait("targeting-local", new FlagwrightProvider({ document: doc }));
});

afterAll(async () => {
  await OpenFeature.clearProviders();
  await sidecar?.close();
  await dir?.remove();
});

const shape = (d: {
  value: unknown;
  variant?: string;
  reason?: string;
  flagMetadata?: Record<string, unknown>;
}) => ({
  value: d.value,
  variant: d.variant,
  reason: d.reason,
  rule: d.flagMetadata?.rule,
});

describe("targeting everywhere", () => {
  it("the OFREP SDK (sidecar) and the in-process provider answer as the core", async () => {
    const kinds = new Set<string>();
    for (const context of CONTEXTS) {
      for (const key of FLAGS) {
        const want = evaluate(doc, key, context);
        kinds.add(
          `${key}:${want.reason}:${want.flagMetadata?.rule ?? want.flagMetadata?.prerequisite ?? ""}`,
        );
        const fallback = key === "onboarding" ? { steps: -1 } : false;
        for (const domain of ["targeting-remote", "targeting-local"]) {
          const client = OpenFeature.getClient(domain);
          const got =
            typeof fallback === "boolean"
              ? await client.getBooleanDetails(key, fallback, context)
              : await client.getObjectDetails(key, fallback, context);
          expect(shape(got), `${domain} ${key} ${JSON.stringify(context)}`).toEqual(shape(want));
        }
      }
    }
    // Rules, segments, prerequisites and the default rollout all took part.
    for (const expected of [
      "new-search:TARGETING_MATCH:employees",
      "onboarding:TARGETING_MATCH:old-apps",
      "onboarding:TARGETING_MATCH:eu",
      "onboarding:SPLIT:",
      "reports:TARGETING_MATCH:beta",
      "one-click:TARGETING_MATCH:new-search",
      "one-click:STATIC:",
    ]) {
      expect(kinds, expected).toContain(expected);
    }
  });

  it("bulk evaluation applies the posted context, and its ETag follows the attributes", async () => {
    for (const context of CONTEXTS.slice(0, 20)) {
      const res = await post(`${sidecar.url}/ofrep/v1/evaluate/flags`, { context });
      const flags = (res.json as { flags: { key: string; value: unknown; reason: string }[] }).flags;
      for (const f of flags) {
        const want = evaluate(doc, f.key, context);
        expect({ value: f.value, reason: f.reason }, f.key).toEqual({
          value: want.value,
          reason: want.reason,
        });
      }
    }
    const tag = async (context: Record<string, unknown>) =>
      (
        await fetch(`${sidecar.url}/ofrep/v1/evaluate/flags`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ context }),
        })
      ).headers.get("etag");
    const employee = await tag({ targetingKey: "u", email: "a@acme.com" });
    expect(employee).toBeTruthy();
    expect(await tag({ targetingKey: "u", email: "a@acme.com" })).toBe(employee);
    expect(await tag({ targetingKey: "u", email: "a@example.org" })).not.toBe(employee);
  });

  it("flagwright eval --context answers as the core", async () => {
    for (const context of CONTEXTS.slice(0, 10)) {
      for (const key of FLAGS) {
        let stdout = "";
        const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
          stdout += String(chunk);
          return true;
        });
        try {
          await buildProgram()
            .exitOverride()
            .parseAsync([
              "node",
              "flagwright",
              "eval",
              "--config",
              file,
              "--flag",
              key,
              "--context",
              JSON.stringify(context),
            ]);
        } finally {
          write.mockRestore();
          process.exitCode = undefined;
        }
        expect(shape(JSON.parse(stdout)), `${key} ${JSON.stringify(context)}`).toEqual(
          shape(evaluate(doc, key, context)),
        );
      }
    }
  });
});
