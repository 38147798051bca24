// The size limits `npm run lint` enforces (scripts/check-sizes.ts), fed small trees: an oversized
// file and an oversized function must fail naming them, a clean tree and the baseline's known
// violations pass, and a known violation that grew fails again.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { DEFAULT_BASELINE, main, measureFunctions } from "../../../scripts/check-sizes.js";
import { useTempTree } from "../../support/temp-tree.js";

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, "../../..");
const lintSizes = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).scripts[
  "lint:sizes"
] as string;

const write = useTempTree("flagwright-sizes-");

function check(root: string, args: string[] = []): { code: number; output: string } {
  const lines: string[] = [];
  const code = main(root, args, (line) => lines.push(line));
  return { code, output: lines.join("\n") };
}

const lines = (n: number, text = "x++;") => Array.from({ length: n }, () => `  ${text}`).join("\n");
/** A function whose literal span is `n` lines. */
const fn = (name: string, n: number) =>
  `export function ${name}(x: number) {\n${lines(n - 3)}\n  return x;\n}\n`;

const clean = {
  "src/core/small.ts": `// Small.\n${fn("small", 80)}`,
  "src/core/factory.ts": `// A factory whose closures are short.\nexport function make() {\n  const a = () => 1;\n  return { a };\n}\n`,
};

describe("size limits", () => {
  it("pass a tree within the limits, and say what they checked", () => {
    const { code, output } = check(write(clean));
    expect(output).toContain("lint:sizes: 2 files, 3 functions; 0 failing, 0 known");
    expect(code).toBe(0);
  });

  it("fail an oversized file and an oversized function, naming file, line, function and size", () => {
    const root = write({
      ...clean,
      "src/operator/big.ts": `// Big.\n${Array.from({ length: 410 }, (_, i) => `export const v${i} = ${i};`).join("\n")}\n`,
      "src/sidecar/long.ts": `// Long.\nconst a = 1;\nexport class Handler {\n  handle() {\n    return [1].map((y) => {\n${lines(86, "y++;")}\n      return y;\n    });\n  }\n}\n`,
    });
    const { code, output } = check(root);
    expect(code).toBe(1);
    expect(output).toContain("src/operator/big.ts: file is 411 lines (limit 400)");
    expect(output).toContain("src/sidecar/long.ts:4 Handler.handle: function is 91 lines (limit 80)");
    expect(output).toContain("src/sidecar/long.ts:5 Handler.handle.map(callback): function is 89 lines");
    expect(output).toContain("3 failing, 0 known");
  });

  it("count a closure-heavy factory as one function, nested closures included", () => {
    const factory = `export function createServer() {\n${Array.from({ length: 20 }, (_, i) => `  const h${i} = () => {\n${lines(3)}\n  };`).join("\n")}\n  return 1;\n}\n`;
    const [outer, ...closures] = measureFunctions("src/a.ts", factory);
    expect(outer).toEqual({ name: "createServer", line: 1, lines: 103 });
    expect(closures.map((c) => c.lines)).toEqual(Array(20).fill(5));
    expect(closures[0]?.name).toBe("createServer.h0");
  });

  it("accept the baseline's known violations, fail one that grew, and rewrite it on --update-baseline", () => {
    const root = write({ ...clean, "src/rollout/steps.ts": `// Steps.\n${fn("run", 100)}` });
    expect(check(root).code).toBe(1);
    expect(check(root, ["--update-baseline"]).code).toBe(0);
    expect(JSON.parse(readFileSync(join(root, DEFAULT_BASELINE), "utf8"))).toEqual([
      { kind: "function", file: "src/rollout/steps.ts", name: "run", lines: 100 },
    ]);
    expect(check(root).output).toContain("0 failing, 1 known");
    write({ "src/rollout/steps.ts": `// Steps.\n${fn("run", 101)}` });
    const grown = check(root);
    expect(grown.code).toBe(1);
    expect(grown.output).toContain(
      `src/rollout/steps.ts:2 run: function is 101 lines (limit 80), was 100 in ${DEFAULT_BASELINE}`,
    );
    write({ "src/rollout/steps.ts": `// Steps.\n${fn("run", 60)}` });
    expect(check(root).output).toContain(
      "0 failing, 0 known (.size-known-violations.json), 1 known now within the limits",
    );
  });

  it("fail a module that does not open with a header, or whose header cites an issue", () => {
    const { code, output } = check(
      write({
        ...clean,
        "src/kube/bare.ts": "export const bare = 1;\n",
        "src/kube/cites.ts": "// Added for issue 32.\nexport const cites = 1;\n",
        "src/cli/bin.ts": "#!/usr/bin/env node\n// The binary: runs the program.\nexport const bin = 1;\n",
      }),
    );
    expect(code).toBe(1);
    expect(output).toContain("src/kube/bare.ts:1 no header comment saying what the module owns");
    expect(output).toContain("src/kube/cites.ts:1 the header cites an issue");
    expect(output).not.toContain("src/cli/bin.ts");
    expect(output).toContain("2 failing");
  });

  it("exempt generated files, the declarative schema and SHA-256's unrolled compression only", () => {
    const big = `${lines(500, "// data")}\n`;
    const { code, output } = check(
      write({
        "src/api/types.generated.ts": big,
        "src/api/schema.ts": `${big}${fn("schemaOf", 200)}`,
        "src/core/sha256.ts": `${fn("compress", 180)}${fn("other", 90)}`,
      }),
    );
    expect(code).toBe(1);
    expect(output).toContain("src/core/sha256.ts:181 other: function is 90 lines");
    expect(output).not.toMatch(/generated|schema|compress/);
  });

  it("runs from the lint script's command line", async () => {
    const root = write({ ...clean, "src/core/long.ts": `// Long.\n${fn("tooLong", 81)}` });
    const [command, ...args] = lintSizes
      .split(/\s+/)
      .map((a) => (a.startsWith("scripts/") ? join(repo, a) : a));
    const error = await run(join(repo, "node_modules/.bin", command as string), args, { cwd: root }).catch(
      (e: { code: number; stdout: string }) => e,
    );
    expect(error).toMatchObject({ code: 1 });
    expect((error as { stdout: string }).stdout).toContain(
      "src/core/long.ts:2 tooLong: function is 81 lines",
    );
  });
});
