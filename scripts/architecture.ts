// `npm run docs:architecture`: draws the folder-level import graph of src/ (each top-level folder a
// box, an arrow where one imports another) as a mermaid block between markers in
// docs/development.md, cruised by dependency-cruiser with the layer rules' own options, so the
// picture is the code's. `-- --check` fails when the committed block differs.
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { cruise, type ICruiseResult } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";

export const DOC = "docs/development.md";
export const BEGIN =
  "<!-- architecture: generated from src/'s imports by `npm run docs:architecture`; do not edit by hand -->";
export const END = "<!-- /architecture -->";

interface Edge {
  from: string;
  to: string;
  /** Every import behind the arrow is `import type`: erased at build, a compile-time dependency. */
  typeOnly: boolean;
  /** At least one import behind the arrow breaks a rule of .dependency-cruiser.cjs. */
  breaksRule: boolean;
}

/** `src/core/hash.ts` → `core`; undefined for files at src/'s top and anything outside src/. */
const folderOf = (path: string) => /^src\/([^/]+)\//.exec(path)?.[1];

/** Cruises `root`/src with the repo's dependency-cruiser options. */
export async function cruiseSrc(
  root: string,
  config = join(root, ".dependency-cruiser.cjs"),
): Promise<ICruiseResult> {
  const options = await extractDepcruiseOptions(config);
  const tsConfigFile = join(root, "tsconfig.json");
  const { output } = await cruise(
    ["src"],
    { ...options, baseDir: root, tsConfig: { fileName: tsConfigFile }, validate: true },
    undefined,
    { tsConfig: extractTSConfig(tsConfigFile) },
  );
  return output as ICruiseResult;
}

/** The folder-level edges and folders of a cruise, plus the top-level files not drawn. */
export function foldersOf(result: ICruiseResult): { folders: string[]; edges: Edge[]; shared: string[] } {
  const folders = new Set<string>();
  const shared = new Set<string>();
  const edges = new Map<string, Edge>();
  for (const module of result.modules) {
    const from = folderOf(module.source);
    if (from === undefined) {
      if (/^src\/[^/]+$/.test(module.source) && !module.source.endsWith(".d.ts"))
        shared.add(module.source.slice(4));
      continue;
    }
    folders.add(from);
    for (const dependency of module.dependencies) {
      const to = folderOf(dependency.resolved);
      if (to === undefined || to === from) continue;
      const key = `${from} ${to}`;
      const typeOnly = dependency.dependencyTypes.includes("type-only");
      const edge = edges.get(key) ?? { from, to, typeOnly: true, breaksRule: false };
      edge.typeOnly &&= typeOnly;
      edge.breaksRule ||= !dependency.valid;
      edges.set(key, edge);
    }
  }
  const byName = (a: Edge, b: Edge) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to);
  return {
    folders: [...folders].sort(),
    edges: [...edges.values()].sort(byName),
    shared: [...shared].sort(),
  };
}

/** The block between the markers: a mermaid flowchart, importers above what they import. */
export function render({ folders, edges, shared }: ReturnType<typeof foldersOf>): string {
  const lines = ["```mermaid", "flowchart TD"];
  for (const folder of folders) lines.push(`  ${folder}["src/${folder}/"]`);
  for (const edge of edges) lines.push(`  ${edge.from} ${edge.typeOnly ? "-.->" : "-->"} ${edge.to}`);
  const broken = edges.flatMap((edge, index) => (edge.breaksRule ? [index] : []));
  if (broken.length > 0) lines.push(`  linkStyle ${broken.join(",")} stroke:#c00,stroke-width:2px`);
  lines.push("```", "");
  lines.push(
    "Arrows point from the importer to the imported folder; dashed, only `import type`; red, an import",
    "that breaks a layer rule (listed in `.dependency-cruiser-known-violations.json`).",
  );
  if (shared.length > 0)
    lines.push(
      `Not drawn: ${shared.map((s) => `\`src/${s}\``).join(", ")}, at src/'s top and shared by all.`,
    );
  return lines.join("\n");
}

/** `text` with the block between the markers replaced by `block`. */
export function replaceBlock(text: string, block: string): string {
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${DOC} has no "${BEGIN}" … "${END}" markers`);
  return `${text.slice(0, begin + BEGIN.length)}\n${block}\n${text.slice(end)}`;
}

export async function architecture(root: string, config?: string): Promise<string> {
  return render(foldersOf(await cruiseSrc(root, config)));
}

// Run as a script (not when a test imports it).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = process.cwd();
  const doc = join(root, DOC);
  const text = readFileSync(doc, "utf8");
  const updated = replaceBlock(text, await architecture(root));
  if (process.argv.includes("--check")) {
    if (updated !== text) {
      console.log(
        `${DOC}: the architecture picture differs from src/'s imports; run \`npm run docs:architecture\``,
      );
      process.exitCode = 1;
    } else console.log(`${DOC}: the architecture picture is current`);
  } else if (updated !== text) {
    writeFileSync(doc, updated);
    console.log(`wrote the architecture picture into ${DOC}`);
  } else console.log(`${DOC}: the architecture picture is current`);
}
