// No Docker engine here: the Dockerfile is checked for consistency with package.json, the build
// configuration and the manifests that run it.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";

const read = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), "utf8");
const dockerfile = read("Dockerfile");
const pkg = JSON.parse(read("package.json"));
const stages = dockerfile.split(/^FROM /m).slice(1);
const runtime = stages.at(-1) ?? "";

describe("Dockerfile", () => {
  it("builds with npm ci and the package's build script into dist/, the CLI bundled into the bin", () => {
    // tsc, then the dashboard's page (plain JS and CSS, which tsc does not copy) beside its server,
    // then scripts/bundle.ts (the CLI, and the Kubernetes client; the script must be in the build stage).
    expect(pkg.scripts.build).toBe(
      "tsc -p tsconfig.build.json && node -e \"require('node:fs').cpSync('src/dashboard/static','dist/dashboard/static',{recursive:true})\" && npm run bundle",
    );
    expect(pkg.scripts.bundle).toBe("tsx scripts/bundle.ts");
    expect(stages[0]).toMatch(/^COPY scripts\/bundle\.ts \.\/scripts\/$/m);
    expect(pkg.bin.flagwright).toBe("dist/bundle/main.js");
    expect(pkg.files).toContain("dist");
    // The dashboard serves its charting library from the installed package: a runtime dependency.
    expect(pkg.dependencies.uplot).toBeDefined();
    expect(parse(JSON.stringify(JSON.parse(read("tsconfig.build.json")))).compilerOptions.outDir).toBe(
      "dist",
    );
    expect(stages[0]).toMatch(/RUN npm ci\b/);
    expect(stages[0]).toContain("RUN npm run build");
    expect(stages.length).toBeGreaterThanOrEqual(2);
  });

  it("runs the package's flagwright bin on a minimal Node base as a non-root user", () => {
    // The base is a build argument (scripts/image.ts builds on a local base); users get distroless.
    const argument = /^\$\{(\w+)\}/.exec(runtime)?.[1];
    const base = argument
      ? new RegExp(`^ARG ${argument}=(\\S+)$`, "m").exec(dockerfile)?.[1]
      : runtime.split("\n")[0];
    expect(base).toBe("gcr.io/distroless/nodejs20-debian12:nonroot");
    expect(runtime).toMatch(/^USER 65532:65532$/m);
    const entrypoint = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(runtime)?.[1] ?? "[]");
    expect(entrypoint).toEqual(["/nodejs/bin/node", `/app/${pkg.bin.flagwright}`]);
    // The CLI reads its version from the package.json beside dist/.
    expect(runtime).toContain("./package.json");
    expect(runtime).toMatch(/npm ci --omit=dev|--from=deps/);
    expect(pkg.engines.node).toBe(">=20.19");
  });

  it(".dockerignore lets in exactly what the Dockerfile copies from the context", () => {
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
      (m[1] ?? "").split(" "),
    );
    const allowed = read(".dockerignore")
      .split("\n")
      .filter((l) => l.startsWith("!"))
      .map((l) => l.slice(1).replace(/\/$/, ""));
    expect([...new Set(copied)].sort()).toEqual(allowed.sort());
  });

  it("matches the user the manifests run it as", () => {
    const chart = parse(read("charts/flagwright/values.yaml"));
    expect(chart.podSecurityContext.runAsUser).toBe(65532);
    const deployment = parseAllDocuments(read("deploy/deployment.yaml"))[0]?.toJS();
    expect(deployment.spec.template.spec.containers[0].securityContext.runAsUser).toBe(65532);
  });
});
