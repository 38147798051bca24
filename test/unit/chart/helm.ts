// helm for the chart tests, built from the Go module proxy (tools/helm pins helm.sh/helm/v3) once
// and cached under ~/.cache/flagwright/helm-<source hash>, like the local control plane.
// `node --import tsx test/unit/chart/helm.ts` builds it (.ci/run does) and prints its path.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheRoot, ensureGoBuild, goBuildDir } from "../../../scripts/go-build.js";

const toolDir = fileURLToPath(new URL("../../../tools/helm/", import.meta.url));
export const chartDir = fileURLToPath(new URL("../../../charts/flagwright", import.meta.url));

/** Where the cached helm binary lives for the current tools/helm sources. */
export function helmPath(): string {
  return join(goBuildDir("helm", toolDir), "helm");
}

/** The cached helm, or an error that says how to build it (tests never skip silently). */
export function requireHelm(): string {
  const path = helmPath();
  if (!existsSync(path)) {
    throw new Error(
      `helm is not built for tools/helm (${path} is missing): run \`node --import tsx test/unit/chart/helm.ts\` (.ci/run does; needs Go)`,
    );
  }
  return path;
}

/**
 * The link flags Helm's own Makefile sets: its version, and the Kubernetes version of its
 * client-go (without them `helm template` assumes Kubernetes 1.20 and `helm version` says "v3.22").
 */
function ldflags(): string {
  const gomod = readFileSync(join(toolDir, "go.mod"), "utf8");
  const helmVersion = /(?:^|\s)helm\.sh\/helm\/v3 (v\S+)/m.exec(gomod)?.[1];
  const clientGo = /^\s*k8s\.io\/client-go v0\.(\d+)\./m.exec(gomod)?.[1];
  if (!helmVersion || !clientGo)
    throw new Error("tools/helm/go.mod must require helm.sh/helm/v3 and k8s.io/client-go");
  return [
    `-X helm.sh/helm/v3/internal/version.version=${helmVersion}`,
    ...["pkg/lint/rules", "pkg/chartutil"].flatMap((pkg) => [
      `-X helm.sh/helm/v3/${pkg}.k8sVersionMajor=1`,
      `-X helm.sh/helm/v3/${pkg}.k8sVersionMinor=${clientGo}`,
    ]),
  ].join(" ");
}

/** Builds helm (go build helm.sh/helm/v3/cmd/helm in tools/helm) unless it is cached. */
export async function ensureHelm(log: (line: string) => void = () => {}): Promise<string> {
  const binDir = await ensureGoBuild({
    name: "helm",
    dir: toolDir,
    targets: [{ binary: "helm", pkg: "helm.sh/helm/v3/cmd/helm", ldflags: ldflags() }],
    log,
  });
  return join(binDir, "helm");
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with a private HELM_* home so no user configuration or repository leaks in. */
export function helm(args: string[]): Promise<HelmResult> {
  const bin = requireHelm();
  const home = join(cacheRoot(), "helm-home");
  return new Promise((resolve) => {
    execFile(
      bin,
      args,
      {
        maxBuffer: 64 * 1024 * 1024,
        env: {
          ...process.env,
          HELM_CACHE_HOME: join(home, "cache"),
          HELM_CONFIG_HOME: join(home, "config"),
          HELM_DATA_HOME: join(home, "data"),
        },
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(await ensureHelm((line) => console.error(`[helm] ${line}`)));
}
