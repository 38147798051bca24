// Runs the Argo CD health check (deploy/argocd) through Argo CD's Lua path (gopher-lua set up as
// Argo CD's util/lua sets it up: tools/argocd-lua, built from the Go module proxy and cached like
// the control plane) against its fixtures, in the layout Argo CD uses for its own
// resource_customizations tests: health_test.yaml lists each fixture under testdata/ with the
// status and message it must get. Every fixture runs twice: as an argocd-cm override (Argo CD
// opens no Lua standard library for those unless useOpenLibs is set) and as a built-in script
// (all libraries open).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ensureGoBuild } from "../../../scripts/go-build.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const checkDir = join(root, "deploy/argocd/resource_customizations/flagwright.dev/FeatureFlag");
const healthLua = join(checkDir, "health.lua");

interface HealthTest {
  healthStatus: { status: string; message: string };
  inputPath: string;
}
const { tests } = parse(readFileSync(join(checkDir, "health_test.yaml"), "utf8")) as { tests: HealthTest[] };

let argocdLua = "";
beforeAll(async () => {
  const toolDir = join(root, "tools/argocd-lua");
  const binDir = await ensureGoBuild({
    name: "argocd-lua",
    dir: toolDir,
    targets: [{ binary: "argocd-lua", pkg: "." }],
    log: (line) => console.error(`[argocd-lua] ${line}`),
  });
  argocdLua = join(binDir, "argocd-lua");
}, 600_000); // a cold build downloads gopher-lua

type Health = { status: string; message?: string } | { error: string };

/** Runs health.lua on each object the way Argo CD's controller does; one answer per object. */
function health(objects: unknown[], mode: "override" | "built-in", script = healthLua): Health[] {
  const args = [...(mode === "built-in" ? ["--open-libs"] : []), script];
  const run = spawnSync(argocdLua, args, { input: JSON.stringify(objects), encoding: "utf8" });
  if (run.error || run.status !== 0) {
    throw new Error(`${argocdLua} failed: ${run.error?.message ?? run.stderr}`);
  }
  return JSON.parse(run.stdout) as Health[];
}

const modes = ["override", "built-in"] as const;

describe("Argo CD health check for FeatureFlag (Argo CD's gopher-lua path)", () => {
  it.each(modes)("every fixture gets its status and message (%s)", (mode) => {
    const objects = tests.map((t) => parse(readFileSync(join(checkDir, t.inputPath), "utf8")));
    const answers = health(objects, mode);
    tests.forEach((test, i) => {
      expect(answers[i], test.inputPath).toEqual(test.healthStatus);
    });
  });

  it("has a fixture for every fixture file and every status phase", () => {
    const files = readdirSync(join(checkDir, "testdata")).map((f) => `testdata/${f}`);
    expect(tests.map((t) => t.inputPath).sort()).toEqual(files.sort());
    const phases = new Set(
      tests.map((t) => parse(readFileSync(join(checkDir, t.inputPath), "utf8")).status?.phase),
    );
    for (const phase of ["Pending", "Progressing", "Paused", "Completed", "RolledBack", "Disabled"]) {
      expect(phases, phase).toContain(phase);
    }
    const statuses = new Set(tests.map((t) => t.healthStatus.status));
    expect([...statuses].sort()).toEqual(["Degraded", "Healthy", "Progressing", "Suspended"]);
  });

  it("covers the phase enum of the CRD", () => {
    const crd = parse(readFileSync(join(root, "crds/featureflags.flagwright.dev.yaml"), "utf8"));
    const phaseEnum = crd.spec.versions[0].schema.openAPIV3Schema.properties.status.properties.phase.enum;
    expect(phaseEnum.sort()).toEqual([
      "Completed",
      "Disabled",
      "Paused",
      "Pending",
      "Progressing",
      "RolledBack",
    ]);
  });

  it("ships the same Lua in the argocd-cm snippet", () => {
    const cm = parse(readFileSync(join(root, "deploy/argocd/argocd-cm.yaml"), "utf8"));
    expect(cm.metadata.name).toBe("argocd-cm");
    expect(cm.data["resource.customizations.health.flagwright.dev_FeatureFlag"]).toBe(
      readFileSync(healthLua, "utf8"),
    );
  });

  it.each(modes)("an unknown phase is Unknown, not Healthy (%s)", (mode) => {
    const [answer] = health(
      [{ metadata: { generation: 1 }, status: { observedGeneration: 1, phase: "Exploded" } }],
      mode,
    );
    expect(answer).toEqual({ status: "Unknown", message: "Unknown phase Exploded" });
  });

  it("the engine is Argo CD's: an override gets no string library, a built-in script does", () => {
    const dir = mkdtempSync(join(tmpdir(), "flagwright-argocd-lua-"));
    try {
      const script = join(dir, "health.lua");
      writeFileSync(script, 'return { status = string.upper("healthy"):sub(1, 1) .. "ealthy" }\n');
      const [override] = health([{}], "override", script);
      expect(override).toMatchObject({ error: expect.stringMatching(/string/) });
      expect(health([{}], "built-in", script)).toEqual([{ status: "Healthy" }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
