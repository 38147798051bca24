// The architecture picture in docs/development.md is generated from src/'s imports
// (scripts/architecture.ts): the committed block must be what the script draws today, and the
// script must draw folders, arrows, `import type` and rule-breaking imports as the docs say.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { architecture, BEGIN, DOC, END, replaceBlock } from "../../../scripts/architecture.js";
import { useTempTree } from "../../support/temp-tree.js";

const repo = resolve(import.meta.dirname, "../../..");

const writeTree = useTempTree("flagwright-architecture-");

describe("scripts/architecture.ts", () => {
  it("matches the picture committed in docs/development.md", async () => {
    const committed = readFileSync(join(repo, DOC), "utf8");
    expect(
      replaceBlock(committed, await architecture(repo)),
      "regenerate with: npm run docs:architecture",
    ).toBe(committed);
  });

  it("draws top-level folders as boxes and imports between them as arrows, dashed for import type, red for a broken layer rule", async () => {
    const files = {
      "tsconfig.json": readFileSync(join(repo, "tsconfig.json"), "utf8"),
      "src/log.ts": "export const log = 1;\n",
      "src/core/a.ts": 'import { log } from "../log.js";\nexport const a = log;\n',
      "src/core/b.ts": 'import { a } from "./a.js";\nexport const b = a;\n',
      "src/api/index.ts":
        'import { b } from "../core/b.js";\nexport const api = b;\nexport type Api = number;\n',
      "src/kube/client.ts":
        'import type { Api } from "../api/index.js";\nexport const client = (x: Api) => x;\n',
      "src/provider/index.ts": 'import { client } from "../kube/client.js";\nexport const p = client;\n',
    };
    const tree = writeTree(files);
    const block = await architecture(tree, join(repo, ".dependency-cruiser.cjs"));
    expect(block).toContain(
      [
        "flowchart TD",
        '  api["src/api/"]',
        '  core["src/core/"]',
        '  kube["src/kube/"]',
        '  provider["src/provider/"]',
        "  api --> core",
        "  kube -.-> api",
        "  provider --> kube",
        "  linkStyle 2 stroke:#c00,stroke-width:2px",
      ].join("\n"),
    );
    expect(block).toContain("Not drawn: `src/log.ts`");
  });

  it("replaces only what stands between the markers", () => {
    const text = `# Doc\n${BEGIN}\nold\n${END}\nafter\n`;
    expect(replaceBlock(text, "new")).toBe(`# Doc\n${BEGIN}\nnew\n${END}\nafter\n`);
    expect(() => replaceBlock("# Doc\n", "new")).toThrow(/markers/);
  });
});
