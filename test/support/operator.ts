// Runs `flagwright operator` as a real child process (as it runs in a Pod), against the suite's
// control plane or another kubeconfig, capturing its JSON log lines.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { waitFor } from "./wait.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

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
  { kubeconfig, env = {} }: { kubeconfig?: string; env?: Record<string, string> } = {},
): Promise<OperatorProcess> {
  // Imported lazily so benchmarks can use this harness outside vitest.
  kubeconfig ??= (await import("vitest")).inject("kubeconfig");
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "operator",
      "--kubeconfig",
      kubeconfig,
      "--http-address",
      "127.0.0.1:0",
      ...args,
    ],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } },
  );
  const logs: Record<string, unknown>[] = [];
  let stderr = "";
  createInterface({ input: child.stdout }).on("line", (line) => {
    try {
      logs.push(JSON.parse(line));
    } catch {
      logs.push({ msg: line });
    }
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  // "close", not "exit": the last log lines are read before the process counts as gone.
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const started = await Promise.race([
    waitFor(() => logs.find((l) => l.reason === "Started"), {
      timeoutMs: 30_000,
      what: "the operator to start",
    }),
    exited.then((code) => {
      throw new Error(`operator exited ${code}: ${stderr}${JSON.stringify(logs.slice(-3))}`);
    }),
  ]);
  const wait = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    child,
    logs,
    url: `http://${started.http as string}`,
    identity: started.identity as string,
    stop: () => wait("SIGTERM"),
    kill: () => wait("SIGKILL"),
    exited,
  };
}
