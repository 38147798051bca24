// Runs `flagwright operator` as a real child process (as it runs in a Pod), against the suite's
// control plane or another kubeconfig, capturing its JSON log lines.
import type { ChildProcess } from "node:child_process";
import { spawnFlagwright } from "./flagwright-process.js";

export interface OperatorProcess {
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: Record<string, unknown>[];
  /** Base URL of its HTTP server (probes, metrics, webhooks). */
  url: string;
  identity: string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

export async function startOperator(
  args: string[] = [],
  {
    kubeconfig,
    env = {},
    compiled = false,
  }: { kubeconfig?: string; env?: Record<string, string>; compiled?: boolean } = {},
): Promise<OperatorProcess> {
  // Imported lazily so benchmarks can use this harness outside vitest.
  kubeconfig ??= (await import("vitest")).inject("kubeconfig");
  const proc = spawnFlagwright(
    ["operator", "--kubeconfig", kubeconfig, "--http-address", "127.0.0.1:0", ...args],
    env,
    compiled,
  );
  const started = await proc.waitForLog((l) => l.reason === "Started", "the operator to start");
  const { child, logs, exited } = proc;
  return {
    child,
    logs,
    url: `http://${started.http as string}`,
    identity: started.identity as string,
    stop: () => proc.stop("SIGTERM"),
    kill: () => proc.stop("SIGKILL"),
    exited,
  };
}
