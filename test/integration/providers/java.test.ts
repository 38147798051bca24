// The official Java OFREP provider (Maven dev.openfeature.contrib.providers:ofrep with
// dev.openfeature:sdk) against a real `flagwright sidecar` process: boolean, string and object
// flags, a variant flag, a killed flag, a 0 % flag, a failed prerequisite, a variant flag without
// defaultValue (GENERAL), an unknown flag, a missing targeting key, and 1,000 users whose answers
// equal the seed article's function computed by Python's hashlib. A missing java,
// mvn or python3 is a failure, not a skip.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { tempDir } from "../../support/flag-documents.js";
import { ensureJavaCheck, runJavaCheck } from "../../support/java.js";
import { type SidecarProcess, startFileSidecarProcess } from "../../support/processes.js";
import {
  expectedResult,
  type ProviderResult,
  providerDocument,
  providerEvaluations,
  SEED_FLAG,
  SEED_PERCENT,
  seedUsers,
} from "../../support/provider-plan.js";
import { runPython } from "../../support/python.js";

const seedScript = fileURLToPath(new URL("../../providers/python/seed_expected.py", import.meta.url));
const doc = providerDocument();

let dir: Awaited<ReturnType<typeof tempDir>>;
let proc: SidecarProcess;
let url = "";

beforeAll(async () => {
  ensureJavaCheck();
  dir = await tempDir();
  const file = join(dir.path, "flags.json");
  await writeFile(file, JSON.stringify(doc));
  proc = await startFileSidecarProcess(file, [], { loaded: true });
  url = proc.url;
}, 600_000);

afterAll(async () => {
  await proc?.stop();
  await dir?.remove();
});

it("answers every kind of flag as the sidecar's core does, and 1,000 users as hashlib does", () => {
  const evaluations = providerEvaluations();
  const users = seedUsers(1000);
  const out = JSON.parse(
    runJavaCheck(JSON.stringify({ url, evaluations, seed: { key: SEED_FLAG, users } })),
  ) as { results: ProviderResult[]; seedAnswers: boolean[] };

  expect(out.results).toHaveLength(evaluations.length);
  const outcomes = new Set<string>();
  evaluations.forEach((e, i) => {
    const got = out.results[i] as ProviderResult;
    const want = expectedResult(doc, e);
    const label = `${e.type} ${e.key} for ${e.targetingKey ?? "(no targeting key)"}`;
    expect(got.value, label).toEqual(want.value);
    if (want.errorCode === "TARGETING_KEY_MISSING") {
      // The Java provider (ofrep 0.0.2, internal.Resolver) reports every 400 as INVALID_CONTEXT
      // whatever its errorCode; the sidecar's body says TARGETING_KEY_MISSING (checked in
      // test/unit/sidecar/http.test.ts). Either way the caller gets its default.
      expect(["TARGETING_KEY_MISSING", "INVALID_CONTEXT"], label).toContain(got.errorCode);
    } else expect(got.errorCode ?? undefined, label).toBe(want.errorCode);
    if (want.errorCode === undefined) {
      expect(got.variant, label).toBe(want.variant);
      expect(got.reason, label).toBe(want.reason);
    }
    outcomes.add(got.errorCode ?? got.reason);
  });
  expect([...outcomes]).toEqual(
    expect.arrayContaining([
      "DISABLED",
      "FLAG_NOT_FOUND",
      "SPLIT",
      "INVALID_CONTEXT",
      "STATIC",
      "TARGETING_MATCH",
      "GENERAL",
    ]),
  );

  const expected = JSON.parse(
    runPython(seedScript, JSON.stringify({ key: SEED_FLAG, percent: SEED_PERCENT, users })),
  ) as boolean[];
  expect(out.seedAnswers).toHaveLength(1000);
  const mismatches = users.filter((_, i) => out.seedAnswers[i] !== expected[i]);
  expect(mismatches).toEqual([]);
  const enabled = expected.filter(Boolean).length;
  expect(enabled).toBeGreaterThan(300);
  expect(enabled).toBeLessThan(440);
});
