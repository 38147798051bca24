// Every Prometheus rule file shipped in deploy/ and examples/ passes `promtool check rules`
// (Debian's prometheus package). Plain rule files (top-level `groups`) and PrometheusRule
// objects (spec.groups, e.g. in a kustomize base) are both found and checked.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { promtoolCheckRules, RULE_FILE } from "../../support/prometheus.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));

function yamlFiles(dir: string): string[] {
  let out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(yamlFiles(path));
    else if (/\.ya?ml$/.test(name)) out.push(path);
  }
  return out;
}

const scratch = mkdtempSync(join(tmpdir(), "flagwright-rules-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Rule files to check: the file itself, or each PrometheusRule's spec written out. */
function ruleFiles(): { label: string; path: string }[] {
  const found: { label: string; path: string }[] = [];
  for (const file of [...yamlFiles(join(root, "deploy")), ...yamlFiles(join(root, "examples"))]) {
    const label = relative(root, file);
    const docs = parseAllDocuments(readFileSync(file, "utf8")).map(
      (d) => d.toJS() as Record<string, unknown>,
    );
    docs.forEach((doc, i) => {
      if (doc && Array.isArray(doc.groups) && docs.length === 1) found.push({ label, path: file });
      else if (doc?.kind === "PrometheusRule") {
        const path = join(scratch, `${label.replaceAll("/", "_")}.${i}.yaml`);
        writeFileSync(path, stringify((doc as { spec: unknown }).spec));
        found.push({ label: `${label} (document ${i + 1})`, path });
      }
    });
  }
  return found;
}

describe("Prometheus rule files", () => {
  const files = ruleFiles();

  it("include the project's rule file", () => {
    expect(files.map((f) => f.path)).toContain(RULE_FILE);
  });

  it.each(files)("$label passes promtool check rules", async ({ path }) => {
    const out = await promtoolCheckRules([path]);
    expect(out).toContain("SUCCESS");
  });

  it("promtool rejects a broken rule (the check is real)", async () => {
    const bad = join(scratch, "bad.yaml");
    writeFileSync(bad, stringify({ groups: [{ name: "x", rules: [{ alert: "A", expr: "rate(x[1m]" }] }] }));
    await expect(promtoolCheckRules([bad])).rejects.toThrow(/FAILED|parse error/i);
  });
});
