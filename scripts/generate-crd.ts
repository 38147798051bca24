// Renders the FeatureFlag API (src/api/schema.ts) into the CRD YAML and the TypeScript types, and
// the flag document's schema (src/core/document-schema.ts) into its precompiled validator.
// `npm run generate` writes them; `--check` exits 1 when a checked-in file is out of date.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { renderCrdYaml, renderReference, renderSegmentCrdYaml, renderTypes } from "./render-api.js";
import { renderDocumentValidator } from "./render-document-validator.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const outputs = [
  { path: `${root}crds/featureflags.flagwright.dev.yaml`, render: renderCrdYaml },
  // kustomize only loads files below deploy/, so the base carries its own copy.
  { path: `${root}deploy/crds/featureflags.flagwright.dev.yaml`, render: renderCrdYaml },
  // Helm installs the files under a chart's crds/ before its templates.
  { path: `${root}charts/flagwright/crds/featureflags.flagwright.dev.yaml`, render: renderCrdYaml },
  { path: `${root}crds/segments.flagwright.dev.yaml`, render: renderSegmentCrdYaml },
  { path: `${root}deploy/crds/segments.flagwright.dev.yaml`, render: renderSegmentCrdYaml },
  { path: `${root}charts/flagwright/crds/segments.flagwright.dev.yaml`, render: renderSegmentCrdYaml },
  { path: `${root}src/api/types.generated.ts`, render: renderTypes },
  { path: `${root}docs/reference.md`, render: renderReference },
  { path: `${root}src/core/document-validator.generated.ts`, render: renderDocumentValidator },
];

const check = process.argv.includes("--check");
let stale = 0;
for (const { path, render } of outputs) {
  const wanted = await render();
  let current = "";
  try {
    current = readFileSync(path, "utf8");
  } catch {}
  if (current === wanted) continue;
  if (check) {
    console.error(`out of date: ${path} (run npm run generate)`);
    stale++;
  } else {
    writeFileSync(path, wanted);
    console.log(`wrote ${path}`);
  }
}
process.exit(stale ? 1 : 0);
