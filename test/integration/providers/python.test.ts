// The official Python OFREP provider (PyPI openfeature-provider-ofrep with openfeature-sdk)
// against a real `flagwright sidecar` process: boolean, string and object flags, a variant flag, a
// killed flag, a 0 % flag, a failed prerequisite, a variant flag without defaultValue (GENERAL), an
// unknown flag, a missing targeting key, and 1,000 users whose answers equal the
// seed article's function computed by Python's hashlib. python3 missing is a failure, not a skip.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { makeDocument, tempDir } from "../../support/flag-documents.js";
import { type SidecarProcess, sidecarLogged, startFileSidecarProcess } from "../../support/processes.js";
import {
  expectedResult,
  type ProviderResult,
  providerDocument,
  providerEvaluations,
  SEED_FLAG,
  SEED_PERCENT,
  seedUsers,
} from "../../support/provider-plan.js";
import { ensurePythonEnv, runPython } from "../../support/python.js";

const script = fileURLToPath(new URL("../../providers/python/ofrep_check.py", import.meta.url));
const doc = providerDocument();

let dir: Awaited<ReturnType<typeof tempDir>>;
let proc: SidecarProcess;
let url = "";

beforeAll(async () => {
  ensurePythonEnv();
  dir = await tempDir();
  const file = join(dir.path, "flags.json");
  await writeFile(file, JSON.stringify(doc));
  proc = await startFileSidecarProcess(file, [], { loaded: true });
  url = proc.url;
}, 300_000);

afterAll(async () => {
  await proc?.stop();
  await dir?.remove();
});

interface Output {
  results: ProviderResult[];
  seed?: { checked: number; enabled: number; mismatches: unknown[] };
}

it("answers every kind of flag as the sidecar's core does", () => {
  const evaluations = providerEvaluations();
  const out = JSON.parse(runPython(script, JSON.stringify({ url, evaluations }))) as Output;
  expect(out.results).toHaveLength(evaluations.length);
  const reasons = new Set<string>();
  evaluations.forEach((e, i) => {
    const got = out.results[i] as ProviderResult;
    const want = expectedResult(doc, e);
    const label = `${e.type} ${e.key} for ${e.targetingKey ?? "(no targeting key)"}`;
    expect(got.value, label).toEqual(want.value);
    expect(got.errorCode ?? undefined, label).toBe(want.errorCode);
    if (want.errorCode === undefined) {
      expect(got.variant, label).toBe(want.variant);
      expect(got.reason, label).toBe(want.reason);
    }
    reasons.add(got.errorCode ?? got.reason);
  });
  // The plan reached each outcome the issue names.
  expect([...reasons].sort()).toEqual(
    expect.arrayContaining([
      "DISABLED",
      "FLAG_NOT_FOUND",
      "SPLIT",
      "TARGETING_KEY_MISSING",
      "STATIC",
      "TARGETING_MATCH",
      "GENERAL",
    ]),
  );
  const banner = out.results.filter((r) => r.key === "banner").map((r) => r.variant);
  expect(new Set(banner)).toEqual(new Set(["red", "blue"]));
});

it("1,000 users get exactly the seed article's answer (Python hashlib)", () => {
  const users = seedUsers(1000);
  const out = JSON.parse(
    runPython(script, JSON.stringify({ url, seed: { key: SEED_FLAG, percent: SEED_PERCENT, users } })),
  ) as Output;
  expect(out.seed?.checked).toBe(1000);
  expect(out.seed?.mismatches).toEqual([]);
  // Not a degenerate split: about 37 % of users are in.
  expect(out.seed?.enabled).toBeGreaterThan(300);
  expect(out.seed?.enabled).toBeLessThan(440);
});

it("the hashlib comparison itself can fail: a document at another percent disagrees", async () => {
  const file = join(dir.path, "flags.json");
  await writeFile(file, JSON.stringify(makeDocument({ [SEED_FLAG]: { percent: SEED_PERCENT + 5 } })));
  try {
    await proc.waitForLog(
      sidecarLogged("DocumentLoaded", (l) => l.flags === 1),
      "the document at another percent",
    );
    const out = JSON.parse(
      runPython(
        script,
        JSON.stringify({ url, seed: { key: SEED_FLAG, percent: SEED_PERCENT, users: seedUsers(200) } }),
      ),
    ) as Output;
    expect(out.seed?.mismatches.length).toBeGreaterThan(0);
  } finally {
    await writeFile(file, JSON.stringify(doc));
  }
});
