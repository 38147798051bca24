import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  renderCrdYaml,
  renderReference,
  renderSegmentCrdYaml,
  renderTypes,
} from "../../../scripts/render-api.js";
import { renderDocumentValidator } from "../../../scripts/render-document-validator.js";

const read = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), "utf8");

describe("generated API files", () => {
  it("crds/featureflags.flagwright.dev.yaml matches src/api/schema.ts (run npm run generate)", async () => {
    expect(read("crds/featureflags.flagwright.dev.yaml")).toBe(await renderCrdYaml());
  });

  it("the CRDs read the same as YAML 1.1, as kubectl reads them (no key or value taken for a boolean)", () => {
    for (const path of ["crds/featureflags.flagwright.dev.yaml", "crds/segments.flagwright.dev.yaml"]) {
      expect(parse(read(path), { version: "1.1" })).toEqual(parse(read(path), { version: "1.2" }));
    }
  });

  it("deploy/crds/ holds the same CRD as crds/", () => {
    expect(read("deploy/crds/featureflags.flagwright.dev.yaml")).toBe(
      read("crds/featureflags.flagwright.dev.yaml"),
    );
  });

  it("the Segment CRD in crds/ and deploy/crds/ matches src/api/schema.ts, namespaced with short name seg", async () => {
    const wanted = await renderSegmentCrdYaml();
    expect(read("crds/segments.flagwright.dev.yaml")).toBe(wanted);
    expect(read("deploy/crds/segments.flagwright.dev.yaml")).toBe(wanted);
    const crd = parse(wanted);
    expect(crd.spec.scope).toBe("Namespaced");
    expect(crd.spec.names.shortNames).toEqual(["seg"]);
    expect(read("deploy/kustomization.yaml")).toContain("crds/segments.flagwright.dev.yaml");
  });

  it("src/api/types.generated.ts matches src/api/schema.ts (run npm run generate)", async () => {
    expect(read("src/api/types.generated.ts")).toBe(await renderTypes());
  });

  it("docs/reference.md matches src/api/schema.ts (run npm run generate)", async () => {
    expect(read("docs/reference.md")).toBe(await renderReference());
  });

  it("src/core/document-validator.generated.ts matches src/core/document-schema.ts (run npm run generate)", () => {
    expect(read("src/core/document-validator.generated.ts")).toBe(renderDocumentValidator());
  });

  it("declares the names, status subresource and printer columns kubectl relies on", () => {
    const crd = parse(read("crds/featureflags.flagwright.dev.yaml"));
    expect(crd.metadata.name).toBe("featureflags.flagwright.dev");
    expect(crd.spec.names.shortNames).toEqual(["ff", "flag"]);
    expect(crd.spec.names.categories).toEqual(["flagwright"]);
    const [version] = crd.spec.versions;
    expect(version.name).toBe("v1alpha1");
    expect(version.subresources).toEqual({ status: {} });
    expect(version.additionalPrinterColumns.map((c: { name: string }) => c.name)).toEqual([
      "Key",
      "Enabled",
      "Target %",
      "Current %",
      "Phase",
      "Next Change",
      "Age",
    ]);
  });
});
