// `flagwright sidecar` as a child process of the demo, watching one ConfigMap through the API.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { waitFor } from "../../test/support/wait.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export interface SidecarProcess {
  child: ChildProcess;
  url: string;
  /** Its JSON log lines so far (raw text). */
  logs: string[];
  /** Resolves with the exit code once the process is gone. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export async function startSidecar(configmap: string, kubeconfig: string): Promise<SidecarProcess> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "sidecar",
      "--configmap",
      configmap,
      "--kubeconfig",
      kubeconfig,
      "--listen",
      "127.0.0.1:0",
    ],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
  );
  const logs: string[] = [];
  let url: string | undefined;
  createInterface({ input: child.stdout }).on("line", (line) => {
    logs.push(line);
    if (logs.length > 200) logs.shift();
    try {
      const entry = JSON.parse(line) as { reason?: string; url?: string };
      if (entry.reason === "Listening") url = entry.url;
    } catch {
      // not JSON: kept as text
    }
  });
  createInterface({ input: child.stderr }).on("line", (line) => {
    logs.push(line);
  });
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const listening = await waitFor(
      () => {
        if (child.exitCode !== null)
          throw new Error(`sidecar exited ${child.exitCode}: ${logs.slice(-5).join("\n")}`);
        return url;
      },
      { timeoutMs: 30_000, what: "the sidecar to listen" },
    );
    return { child, url: listening, logs, exited, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
