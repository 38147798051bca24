// Runs the Argo CD health check (deploy/argocd) with Lua 5.1 against its fixtures, in the layout
// Argo CD uses for its own resource_customizations tests: health_test.yaml lists each fixture under
// testdata/ with the status and message it must get.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const checkDir = join(root, "deploy/argocd/resource_customizations/flagwright.dev/FeatureFlag");
const healthLua = join(checkDir, "health.lua");
const LUA = process.env.LUA ?? "lua5.1";

interface HealthTest {
  healthStatus: { status: string; message: string };
  inputPath: string;
}
const { tests } = parse(readFileSync(join(checkDir, "health_test.yaml"), "utf8")) as { tests: HealthTest[] };

/** A JSON value as a Lua 5.1 table constructor (null members are left out, as gopher-lua does). */
function toLua(value: unknown): string {
  if (value === null || value === undefined) return "nil";
  if (typeof value === "boolean" || typeof value === "number") return String(value);
  if (typeof value === "string") {
    // Decimal escapes for every byte that is not plain printable ASCII keep the literal exact.
    let out = '"';
    for (const byte of Buffer.from(value, "utf8")) {
      out +=
        byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c
          ? String.fromCharCode(byte)
          : `\\${byte}`;
    }
    return `${out}"`;
  }
  if (Array.isArray(value)) return `{${value.map(toLua).join(", ")}}`;
  const fields = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `[${toLua(k)}] = ${toLua(v)}`);
  return `{${fields.join(", ")}}`;
}

/** Runs health.lua the way Argo CD does: `obj` is a global, the chunk returns {status, message}. */
function health(obj: unknown): { status: string; message: string } {
  const runner = [
    `obj = ${toLua(obj)}`,
    "local check = assert(loadfile(arg[1]))",
    "local hs = check()",
    'io.write(tostring(hs.status), "\\n", tostring(hs.message))',
  ].join("\n");
  const run = spawnSync(LUA, ["-", healthLua], { input: runner, encoding: "utf8" });
  if (run.error) {
    throw new Error(
      `${LUA} could not be run (${run.error.message}): install Debian's lua5.1 package (.ci/run does) or set LUA`,
    );
  }
  if (run.status !== 0) throw new Error(`${LUA} failed: ${run.stderr}`);
  const [status = "", ...message] = run.stdout.split("\n");
  return { status, message: message.join("\n") };
}

describe("Argo CD health check for FeatureFlag (Lua 5.1)", () => {
  it.each(tests.map((t) => [t.inputPath, t] as const))("%s", (_, test) => {
    const obj = parse(readFileSync(join(checkDir, test.inputPath), "utf8"));
    expect(health(obj)).toEqual(test.healthStatus);
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

  it("an unknown phase is Unknown, not Healthy", () => {
    expect(
      health({ metadata: { generation: 1 }, status: { observedGeneration: 1, phase: "Exploded" } }),
    ).toEqual({
      status: "Unknown",
      message: "Unknown phase Exploded",
    });
  });
});
