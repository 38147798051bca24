// `flagwright validate` as a user runs it on files and folders: each manifest on its own, then the
// set, namespace by namespace (prerequisites, cycles, segment references, duplicates).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { stringify } from "yaml";
import { buildProgram } from "../../../src/cli/program.js";
import { tempDir } from "../../support/flag-documents.js";

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  dir = await tempDir("flagwright-validate-");
});
afterEach(async () => {
  await dir.remove();
});

/** Runs the CLI in-process; returns stdout, stderr and the exit code. */
async function validate(...args: string[]) {
  let stdout = "";
  let stderr = "";
  const log = vi.spyOn(console, "log").mockImplementation((line: string) => {
    stdout += `${line}\n`;
  });
  const error = vi.spyOn(console, "error").mockImplementation((line: string) => {
    stderr += `${line}\n`;
  });
  const program = buildProgram().exitOverride();
  for (const c of program.commands)
    c.exitOverride().configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
  process.exitCode = undefined;
  let code = 0;
  try {
    await program.parseAsync(["node", "flagwright", "validate", ...args]);
    code = Number(process.exitCode ?? 0);
  } catch (e) {
    code = (e as { exitCode?: number }).exitCode ?? 1;
  } finally {
    log.mockRestore();
    error.mockRestore();
    process.exitCode = undefined;
  }
  return { stdout, stderr, code };
}

const flag = (name: string, spec: Record<string, unknown> = {}, namespace?: string) => ({
  apiVersion: "flagwright.dev/v1alpha1",
  kind: "FeatureFlag",
  metadata: { name, ...(namespace !== undefined && { namespace }) },
  spec: { enabled: true, ...spec },
});
const segment = (name: string, namespace?: string) => ({
  apiVersion: "flagwright.dev/v1alpha1",
  kind: "Segment",
  metadata: { name, ...(namespace !== undefined && { namespace }) },
  spec: { when: 'plan == "beta"' },
});
const usesBeta = { rules: [{ name: "beta", segments: ["beta"], serve: { enabled: true } }] };

/** Writes YAML documents to a file under the temp dir; returns its path. */
async function manifest(file: string, ...docs: unknown[]): Promise<string> {
  const path = join(dir.path, file);
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, docs.map((d) => stringify(d)).join("---\n"));
  return path;
}

describe("flagwright validate across files", () => {
  it("reports a prerequisite cycle across two files on each flag in it, naming the flags", async () => {
    const a = await manifest("a.yaml", flag("a", { prerequisites: [{ flag: "b" }] }));
    const b = await manifest("b.yaml", flag("b", { prerequisites: [{ flag: "a" }] }));
    const r = await validate(a, b);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter(Boolean).sort()).toEqual([
      `${a}#0 a: spec.prerequisites: cycle a -> b -> a`,
      `${b}#0 b: spec.prerequisites: cycle a -> b -> a`,
    ]);
    expect(r.stdout).toBe("");
  });

  it("reports a rule naming a Segment none of the files defines: file, document, field and namespace", async () => {
    const flags = await manifest("flags.yaml", flag("plain", {}, "shop"), flag("checkout", usesBeta, "shop"));
    // A Segment of the same name in another namespace does not count.
    const elsewhere = await manifest("segments.yaml", segment("beta", "staging"));
    const r = await validate(flags, elsewhere);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `${flags}#1 checkout: spec.rules[0].segments[0]: segment "beta" not found in namespace "shop" of the manifests given\n`,
    );
  });

  it("resolves flags and segments across every file of a folder, recursively", async () => {
    await manifest(
      "shop/flags.yaml",
      flag("checkout", { ...usesBeta, prerequisites: [{ flag: "payments" }] }, "shop"),
    );
    await manifest("shop/more/payments.yml", flag("payments", {}, "shop"), segment("beta", "shop"));
    await writeFile(join(dir.path, "shop", "README.md"), "not a manifest");
    const r = await validate(dir.path);
    expect(r).toEqual({ stdout: "3 manifests valid\n", stderr: "", code: 0 });
  });

  it("puts manifests without a namespace into --namespace (default: default)", async () => {
    const flags = await manifest("flags.yaml", flag("checkout", usesBeta));
    const segments = await manifest("segments.yaml", segment("beta", "default"));
    expect((await validate(flags, segments)).code).toBe(0);
    const r = await validate("--namespace", "shop", flags, segments);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('segment "beta" not found in namespace "shop" of the manifests given');
  });

  it("a single file naming what other files hold: an error, a warning with --partial", async () => {
    const checkout = await manifest(
      "checkout.yaml",
      flag("checkout", { ...usesBeta, prerequisites: [{ flag: "payments" }] }, "shop"),
    );
    const strict = await validate(checkout);
    expect(strict.code).toBe(1);
    expect(strict.stderr.split("\n").filter(Boolean)).toEqual([
      `${checkout}#0 checkout: spec.rules[0].segments[0]: segment "beta" not found in namespace "shop" of the manifests given`,
      `${checkout}#0 checkout: spec.prerequisites[0].flag: no flag "payments" in namespace "shop" of the manifests given`,
    ]);
    const partial = await validate("--partial", checkout);
    expect(partial.code).toBe(0);
    expect(partial.stdout).toBe("1 manifest valid (2 warnings)\n");
    expect(partial.stderr.split("\n").filter(Boolean)).toEqual(
      strict.stderr
        .split("\n")
        .filter(Boolean)
        .map((line) => `warning: ${line}`),
    );
    // A cycle stays an error with --partial: more files cannot break it.
    const loop = await manifest("loop.yaml", flag("self", { prerequisites: [{ flag: "self" }] }));
    const cycle = await validate("--partial", loop);
    expect(cycle.code).toBe(1);
    expect(cycle.stderr).toBe(`${loop}#0 self: spec.prerequisites: cycle self -> self\n`);
  });

  it("refuses a flag key or an object defined twice in one namespace", async () => {
    const first = await manifest("first.yaml", flag("checkout", {}, "shop"), segment("beta", "shop"));
    const second = await manifest(
      "second.yaml",
      flag("checkout-v2", { key: "checkout" }, "shop"),
      segment("beta", "shop"),
      // The same names in another namespace are other objects.
      flag("checkout", {}, "staging"),
    );
    const r = await validate(first, second);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter(Boolean)).toEqual([
      `${second}#0 checkout-v2: spec.key: key "checkout" is already used by FeatureFlag checkout (${first}#0) in namespace "shop"; the operator would not project this flag`,
      `${second}#1 beta: metadata.name: Segment "beta" in namespace "shop" is also defined at ${first}#1; applying both keeps only one`,
    ]);
  });

  it("names a path it cannot read and goes on with the others", async () => {
    const ok = await manifest("ok.yaml", flag("fine"));
    const r = await validate(join(dir.path, "missing.yaml"), ok);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${join(dir.path, "missing.yaml")}: cannot read: ENOENT\n`);
  });
});
