// scripts/dead-exports.ts, fed a small tree: an export used nowhere, one used only by tests and a
// value used only in its own module are listed; one imported elsewhere in src/, one behind the
// package's entry point, and a type used in its own module's signatures are not.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { findUnusedExports } from "../../../scripts/dead-exports.js";
import { useTempTree } from "../../support/temp-tree.js";

const repo = resolve(import.meta.dirname, "../../..");

const writeTree = useTempTree("flagwright-dead-exports-");

describe("scripts/dead-exports.ts", () => {
  it("lists exports used nowhere, only by tests, or only at home; not those used elsewhere or public", () => {
    const files = {
      "tsconfig.json": readFileSync(join(repo, "tsconfig.json"), "utf8"),
      "package.json": JSON.stringify({ exports: { "./core": "./dist/core/index.js" } }),
      "src/core/index.ts": 'export { publicApi } from "./a.js";\n',
      "src/core/a.ts": [
        "export const publicApi = 1;",
        "export const dead = 2;",
        "export const LIMIT = 3;",
        "export interface Options { limit: number }",
        "export function used(options: Options) { return options.limit + LIMIT; }",
        "export const testedOnly = 4;",
        "",
      ].join("\n"),
      "src/kube/b.ts": 'const { used } = await import("../core/a.js");\nconsole.log(used({ limit: 1 }));\n',
      "test/a.test.ts": 'import { testedOnly } from "../src/core/a.js";\nexport const t = testedOnly;\n',
    };
    const tree = writeTree(files);
    expect(findUnusedExports(tree)).toEqual([
      { file: "src/core/a.ts", line: 2, name: "dead", usedIn: "nowhere" },
      { file: "src/core/a.ts", line: 3, name: "LIMIT", usedIn: "own-module" },
      { file: "src/core/a.ts", line: 6, name: "testedOnly", usedIn: "tests" },
    ]);
  });
});
