// Real processes for end-to-end tests: `flagwright sidecar` in its own process (ConfigMap or file source), and the
// `kubectl-flagwright` plugin run by the suite's kubectl from PATH (as test/integration/rollout/
// plugin.test.ts does), each with wall-clock start and end times.
import type { ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { inject } from "vitest";
import { runKubectl } from "../cluster/cluster.js";
import { spawnFlagwright } from "./flagwright-process.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export interface SidecarProcess {
  child: ChildProcess;
  url: string;
  logs: Record<string, unknown>[];
  /** POST /ofrep/v1/evaluate/flags/{key} for one targeting key; the parsed answer. */
  evaluate(key: string, targetingKey: string): Promise<{ value?: unknown; reason?: string }>;
  stop(): Promise<void>;
}

/**
 * `flagwright sidecar --configmap NAMESPACE/NAME` on a free loopback port, watching the suite's
 * cluster (or the one `kubeconfig` names: benchmarks run outside vitest).
 */
export async function startSidecarProcess(
  namespace: string,
  name = "flagwright-flags",
  kubeconfig: string = inject("kubeconfig"),
  extraArgs: string[] = [],
): Promise<SidecarProcess> {
  return spawnSidecar(["--configmap", `${namespace}/${name}`, "--kubeconfig", kubeconfig, ...extraArgs]);
}

/** `flagwright sidecar --file DIR` (a kubelet-style volume, see flag-documents.ts) on a free loopback port. */
export function startFileSidecarProcess(dir: string, args: string[] = []): Promise<SidecarProcess> {
  return spawnSidecar(["--file", dir, ...args]);
}

async function spawnSidecar(sourceArgs: string[]): Promise<SidecarProcess> {
  const proc = spawnFlagwright(["sidecar", ...sourceArgs, "--listen", "127.0.0.1:0"]);
  const listening = await proc.waitForLog((l) => l.event === "listening", "the sidecar to listen");
  const url = String(listening.url);
  const { child, logs } = proc;
  const stop = () => proc.stop();
  return {
    child,
    url,
    logs,
    async evaluate(key, targetingKey) {
      const res = await fetch(`${url}/ofrep/v1/evaluate/flags/${key}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ context: { targetingKey } }),
      });
      return (await res.json()) as { value?: unknown; reason?: string };
    },
    stop,
  };
}

export interface PluginRun {
  code: number | null;
  out: string;
  err: string;
  /** Date.now() just before spawning and when the process closed. */
  startedAt: number;
  endedAt: number;
}

export interface KubectlPlugin {
  /** `kubectl flagwright ARGS` with the plugin found on PATH. */
  run(args: string[]): Promise<PluginRun>;
  dispose(): void;
}

/** Puts a `kubectl-flagwright` executable (the package's plugin entry point) on a private PATH. */
export function installKubectlPlugin(): KubectlPlugin {
  const bin = mkdtempSync(join(tmpdir(), "flagwright-plugin-"));
  const script = join(bin, "kubectl-flagwright");
  writeFileSync(
    script,
    `#!/bin/sh\nexec "${join(repoRoot, "node_modules/.bin/tsx")}" "${join(repoRoot, "src/cli/kubectl-plugin/main.ts")}" "$@"\n`,
  );
  chmodSync(script, 0o755);
  return {
    run: async (args) => {
      const startedAt = Date.now();
      const cluster = { kubectl: inject("kubectl"), kubeconfig: inject("kubeconfig") };
      const { code, stdout, stderr } = await runKubectl(cluster, ["flagwright", ...args], undefined, {
        PATH: `${bin}:${process.env.PATH}`,
      });
      return { code, out: stdout, err: stderr, startedAt, endedAt: Date.now() };
    },
    dispose: () => rmSync(bin, { recursive: true, force: true }),
  };
}
