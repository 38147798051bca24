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

type LogLine = Record<string, unknown>;

/** Matches the sidecar's log lines of one `reason` (its log vocabulary: reason, flag, namespace, err). */
export const sidecarLogged =
  (reason: string, also: (line: LogLine) => boolean = () => true) =>
  (line: LogLine): boolean =>
    line.reason === reason && also(line);

export interface SidecarProcess {
  child: ChildProcess;
  url: string;
  /** Parsed JSON log lines so far. */
  logs: LogLine[];
  /** Resolves with the exit code once the process and its output streams are closed. */
  exited: Promise<number | null>;
  /** Waits for a log line; fails at once (with the process's output) if it exits first. */
  waitForLog(match: (line: LogLine) => boolean, what: string): Promise<LogLine>;
  /** POST /ofrep/v1/evaluate/flags/{key} for one targeting key; the parsed answer. */
  evaluate(key: string, targetingKey: string): Promise<{ value?: unknown; reason?: string }>;
  /** SIGTERM (or the given signal) and wait for exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface SidecarStartOptions {
  /** `--listen` address; default a free loopback port. */
  listen?: string;
  /** Also wait for the first document to load (default: only for the sidecar to listen). */
  loaded?: boolean;
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
  options: SidecarStartOptions = {},
): Promise<SidecarProcess> {
  return startSidecarWith(
    ["--configmap", `${namespace}/${name}`, "--kubeconfig", kubeconfig, ...extraArgs],
    options,
  );
}

/** `flagwright sidecar --file DIR` (a kubelet-style volume, see flag-documents.ts) on a free loopback port. */
export function startFileSidecarProcess(
  dir: string,
  args: string[] = [],
  options: SidecarStartOptions = {},
): Promise<SidecarProcess> {
  return startSidecarWith(["--file", dir, ...args], options);
}

/**
 * `flagwright sidecar ARGS --listen ...` as it runs in a pod, not yet waited for: for a sidecar
 * expected to refuse its options (`stderr()` holds why) or started by several tests at once.
 */
export function spawnSidecarProcess(args: string[], listen = "127.0.0.1:0") {
  return spawnFlagwright(["sidecar", ...args, "--listen", listen]);
}

/** `flagwright sidecar ARGS`, resolved once it listens (and, with `loaded`, serves its first document). */
export async function startSidecarWith(
  args: string[],
  options: SidecarStartOptions = {},
): Promise<SidecarProcess> {
  const proc = spawnSidecarProcess(args, options.listen);
  const listening = await proc.waitForLog(sidecarLogged("Listening"), "the sidecar to listen");
  if (options.loaded) await proc.waitForLog(sidecarLogged("DocumentLoaded"), "the first document");
  const url = String(listening.url);
  const { child, logs, exited, waitForLog, stop } = proc;
  return {
    child,
    url,
    logs,
    exited,
    waitForLog,
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
