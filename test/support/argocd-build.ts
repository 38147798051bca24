// Argo CD's application controller and repo server, built from the Go module proxy (tools/argocd
// pins github.com/argoproj/argo-cd/v3) once and cached under ~/.cache/flagwright/argocd-<source
// hash>, like the local control plane. `node --import tsx test/support/argocd-build.ts` builds it
// (.ci/run does) and prints the binary's path.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureGoBuild, goBuildDir } from "../../scripts/go-build.js";

export const argocdModuleDir = fileURLToPath(new URL("../../tools/argocd/", import.meta.url));

/** The Argo CD release tools/argocd pins, e.g. "v3.2.12". */
export function argocdVersion(): string {
  const gomod = readFileSync(join(argocdModuleDir, "go.mod"), "utf8");
  const version = /(?:^|\s)github\.com\/argoproj\/argo-cd\/v3 (v\S+)/m.exec(gomod)?.[1];
  if (!version) throw new Error("tools/argocd/go.mod must require github.com/argoproj/argo-cd/v3");
  return version;
}

/** Where the cached multi-call binary lives for the current tools/argocd sources. */
export function argocdBinaryPath(): string {
  return join(goBuildDir("argocd", argocdModuleDir), "argocd");
}

/** The cached binary, or an error that says how to build it (tests never skip silently). */
export function requireArgocdBinary(): string {
  const path = argocdBinaryPath();
  if (!existsSync(path)) {
    throw new Error(
      `Argo CD is not built for tools/argocd (${path} is missing): run \`node --import tsx test/support/argocd-build.ts\` (.ci/run does; needs Go)`,
    );
  }
  return path;
}

/** Builds the binary (go build in tools/argocd) unless it is cached; returns its path. */
export async function ensureArgocd(log: (line: string) => void = () => {}): Promise<string> {
  const binDir = await ensureGoBuild({
    name: "argocd",
    dir: argocdModuleDir,
    targets: [
      {
        binary: "argocd",
        pkg: ".",
        // As Argo CD's Makefile does, so the components log and report their real version.
        ldflags: `-X github.com/argoproj/argo-cd/v3/common.version=${argocdVersion().replace(/^v/, "")}`,
      },
    ],
    log,
  });
  return join(binDir, "argocd");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await ensureArgocd((line) => console.error(`[argocd] ${line}`)));
}
