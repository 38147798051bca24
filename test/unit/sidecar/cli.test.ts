// `flagwright eval` and `flagwright sidecar` as a user runs them.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildProgram } from "../../../src/cli/program.js";
import { evaluate } from "../../../src/core/index.js";
import { makeDocument, tempDir } from "./helpers.js";

const doc = makeDocument({
  "new-checkout": { percent: 50, allowedUsers: ["vip"] },
  banner: {
    variants: [
      { name: "red", weight: 50, value: "#f00" },
      { name: "blue", weight: 50 },
    ],
  },
});
let dir: Awaited<ReturnType<typeof tempDir>>;
let good: string;
let bad: string;

beforeAll(async () => {
  dir = await tempDir();
  good = join(dir.path, "flags.json");
  bad = join(dir.path, "bad.json");
  await writeFile(good, JSON.stringify(doc));
  const broken = JSON.parse(JSON.stringify(doc));
  broken.flags["new-checkout"].percent = 101;
  await writeFile(bad, JSON.stringify(broken));
});
afterAll(async () => {
  await dir?.remove();
});

/** Runs the CLI in-process; returns stdout, stderr and the exit code. */
async function cli(args: string[]) {
  let stdout = "";
  let stderr = "";
  const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const program = buildProgram()
    .exitOverride()
    .configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
  for (const c of program.commands)
    c.exitOverride().configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
  process.exitCode = undefined;
  let code = 0;
  try {
    await program.parseAsync(["node", "flagwright", ...args]);
    code = Number(process.exitCode ?? 0);
  } catch (error) {
    code = (error as { exitCode?: number }).exitCode ?? 1;
  } finally {
    write.mockRestore();
    process.exitCode = undefined;
  }
  return { stdout, stderr, code };
}

describe("flagwright eval", () => {
  it("prints the evaluation details as JSON", async () => {
    const r = await cli(["eval", "--config", good, "--flag", "banner", "--user", "alice"]);
    expect(r.code).toBe(0);
    const want = evaluate(doc, "banner", { targetingKey: "alice" });
    expect(JSON.parse(r.stdout)).toMatchObject({
      flagKey: "banner",
      value: want.value,
      variant: want.variant,
      reason: "SPLIT",
    });
  });

  it("takes the user from --context, and --user wins", async () => {
    const viaContext = await cli([
      "eval",
      "--config",
      good,
      "--flag",
      "new-checkout",
      "--context",
      '{"targetingKey":"vip"}',
    ]);
    expect(JSON.parse(viaContext.stdout)).toMatchObject({ value: true, reason: "TARGETING_MATCH" });
    const both = await cli([
      "eval",
      "--config",
      good,
      "--flag",
      "new-checkout",
      "--context",
      '{"targetingKey":"vip"}',
      "--user",
      "someone",
    ]);
    expect(JSON.parse(both.stdout).reason).toBe("SPLIT");
  });

  it("exits non-zero with a message naming the field for a bad file", async () => {
    const r = await cli(["eval", "--config", bad, "--flag", "new-checkout", "--user", "u"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('flags["new-checkout"].percent: must be between 0 and 100');
    const missing = await cli(["eval", "--config", join(dir.path, "nope.json"), "--flag", "x"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*nope\.json/);
    const badContext = await cli(["eval", "--config", good, "--flag", "x", "--context", "{oops"]);
    expect(badContext.code).toBe(2);
    expect(badContext.stderr).toContain("--context is not valid JSON");
  });

  it("exits 1 on an evaluation error such as an unknown flag", async () => {
    const r = await cli(["eval", "--config", good, "--flag", "nope", "--user", "u"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ reason: "ERROR", errorCode: "FLAG_NOT_FOUND" });
  });
});

describe("flagwright sidecar", () => {
  it("--help explains every option", async () => {
    const r = await cli(["sidecar", "--help"]);
    for (const option of [
      "--file",
      "--configmap",
      "--key",
      "--listen",
      "--kubeconfig",
      "--poll-interval",
      "--max-body-bytes",
      "--exposure-log",
      "--max-over-budget-waiting",
      "--shutdown-timeout",
      "--log-level",
    ]) {
      expect(r.stdout).toContain(option);
    }
    expect(r.stdout).toContain("127.0.0.1:8016");
  });
});
