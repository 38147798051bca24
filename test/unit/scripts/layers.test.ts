// The layer rules `npm run lint` enforces (.dependency-cruiser.cjs), fed small trees with one bad
// import each: the command must fail and name the rule. The same command line as the lint script.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { useTempTree } from "../../support/temp-tree.js";

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, "../../..");
const lintLayers = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).scripts[
  "lint:layers"
] as string;

const writeTree = useTempTree("flagwright-layers-");

/** Runs the lint script's depcruise command (without the repo's baseline) on a tree of files. */
async function lint(files: Record<string, string>): Promise<{ failed: boolean; output: string }> {
  const tree = writeTree({ "tsconfig.json": readFileSync(join(repo, "tsconfig.json"), "utf8"), ...files });
  const args = lintLayers
    .split(/\s+/)
    .slice(1)
    .map((a) => (a === ".dependency-cruiser.cjs" ? join(repo, a) : a))
    .filter((a, i, list) => a !== "--ignore-known" && list[i - 1] !== "--ignore-known");
  try {
    const { stdout, stderr } = await run(join(repo, "node_modules/.bin/depcruise"), args, { cwd: tree });
    return { failed: false, output: stdout + stderr };
  } catch (error) {
    const e = error as { stdout: string; stderr: string };
    return { failed: true, output: e.stdout + e.stderr };
  }
}

const good = {
  "src/core/evaluate.ts": "export const evaluate = (x: number) => x + 1;\n",
  "src/api/index.ts": 'import { evaluate } from "../core/evaluate.js";\nexport const api = evaluate(1);\n',
  "src/operator/reconciler.ts":
    'import { api } from "../api/index.js";\nexport const reconcile = () => api;\n',
};

describe("layer rules", () => {
  it("pass a tree whose imports point inward", async () => {
    const { failed, output } = await lint(good);
    expect(output).toContain("no dependency violations");
    expect(failed).toBe(false);
  });

  // One tree with every kind of bad import, so the (slow to start) command runs once.
  it("fail upward imports, imports between processes, cycles and I/O in the core, naming each", async () => {
    const { failed, output } = await lint({
      ...good,
      "src/core/evaluate.ts":
        'import { reconcile } from "../operator/reconciler.js";\nexport const evaluate = reconcile;\n',
      "src/sidecar/http.ts":
        'import { reconcile } from "../operator/reconciler.js";\nexport const h = reconcile;\n',
      "src/operator/a.ts": 'import { b } from "./b.js";\nexport const a = () => b;\n',
      "src/operator/b.ts": 'import { a } from "./a.js";\nexport const b = () => a;\n',
      "src/experiment/stats.ts":
        'import { readFileSync } from "node:fs";\nexport const stats = readFileSync;\n',
    });
    expect(failed).toBe(true);
    expect(output).toContain("layer-core: src/core/evaluate.ts → src/operator/reconciler.ts");
    expect(output).toContain("layer-sidecar: src/sidecar/http.ts → src/operator/reconciler.ts");
    expect(output).toMatch(/no-circular: src\/operator\/[ab]\.ts → /);
    expect(output).toContain("core-no-io: src/experiment/stats.ts → fs");
  });
});
