import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { flagsFromManifests, runRefs } from "../../../src/cli/commands/refs.js";
import { compareReferences, compilePattern, scanReferences, scanText } from "../../../src/hygiene/refs.js";

const root = join(import.meta.dirname, "../../fixtures/refs");
const at = (p: string) => join(root, p);

describe("flagwright refs on a fixture tree (TypeScript, Python, Go)", () => {
  const refs = scanReferences([at("web"), at("api"), at("svc")]);
  const where = (key: string) =>
    refs.filter((r) => r.key === key).map((r) => `${r.file.slice(root.length + 1)}:${r.line}`);

  it("finds literal keys in evaluation calls with file and line", () => {
    expect(where("new-checkout")).toEqual(["api/views.py:8", "svc/cmd/main.go:14", "web/src/checkout.ts:8"]);
    expect(where("checkout-theme")).toEqual(["web/src/checkout.ts:10"]); // call split over lines
    expect(where("search-v2")).toEqual(["web/src/checkout.ts:19"]); // OFREP URL
    expect(where("promo-banner")).toEqual(["api/views.py:10"]);
    expect(where("rate-limit")).toEqual(["api/views.py:11", "svc/cmd/main.go:15"]);
    expect(where("typo-chekout")).toEqual(["api/views.py:16"]);
  });

  it("skips non-literal keys and dependency directories (vendor/, node_modules/)", () => {
    expect(where("dynamic")).toEqual([]);
    expect(where("key")).toEqual([]);
    expect(where("vendored-flag")).toEqual([]);
    // ...although the vendored file itself has a reference the patterns find:
    const direct = scanReferences([at("svc/vendor/example.com/lib/flags.go")]);
    expect(direct.map((r) => r.key)).toEqual(["vendored-flag"]);
  });

  it("reports unreferenced flags and undefined keys against the manifests", () => {
    const defined = flagsFromManifests([at("manifests")]);
    expect(defined.map((d) => d.key).sort()).toEqual([
      "checkout-theme",
      "new-checkout",
      "old-onboarding",
      "rate-limit",
      "search-v2",
    ]);
    const report = compareReferences(defined, refs);
    expect(report.unreferenced.map((f) => f.key)).toEqual(["old-onboarding"]);
    expect(report.undefinedKeys.map((u) => u.key)).toEqual(["promo-banner", "typo-chekout"]);
    expect(report.referenced).toHaveLength(4);
  });

  it("prints file:line and exits 1 with --strict", async () => {
    const { output, exitCode } = await runRefs([at("web"), at("api"), at("svc")], {
      manifests: [at("manifests")],
      defaults: true,
      strict: true,
    });
    expect(exitCode).toBe(1);
    expect(output).toContain("Flags defined but not referenced in code (1):\n  old-onboarding");
    expect(output).toMatch(/typo-chekout {2}\S*api\/views\.py:16/);
  });

  it("accepts configurable patterns with one capture group", async () => {
    expect(() => compilePattern("isOn\\(")).toThrow(/one capture group/);
    const custom = compilePattern(String.raw`features\.isOn\(\s*"([a-z0-9-]+)"`);
    expect(scanText('x\nif (features.isOn("beta-nav")) {}', "f.ts", [custom])).toEqual([
      { key: "beta-nav", file: "f.ts", line: 2 },
    ]);
    const { output } = await runRefs([at("api")], {
      pattern: [String.raw`flag_enabled\(\s*["']([a-z0-9-]+)["']`],
      defaults: false,
      json: true,
    });
    const keys = JSON.parse(output).undefinedKeys.map((u: { key: string }) => u.key);
    expect(keys).toEqual(["new-checkout", "typo-chekout"]); // get_string_value etc. not matched
  });
});
