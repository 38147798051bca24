// `flagwright SUBCOMMAND ...` as a real child process (as it runs in a Pod), with its JSON log
// lines parsed, for tests and benchmarks. Used by the operator and sidecar harnesses.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { waitFor } from "./wait.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export interface FlagwrightProcess {
  child: ChildProcess;
  /** Parsed JSON log lines so far (a line that is not JSON becomes { msg }). */
  logs: Record<string, unknown>[];
  /** Resolves with the exit code once the process and its output streams are closed. */
  exited: Promise<number | null>;
  /** SIGTERM (or the given signal) and wait for exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** What the process wrote to stderr so far. */
  stderr(): string;
}

/**
 * `compiled` runs the build output (the package's bin, dist/bundle/main.js, as the container image
 * does) instead of the sources through tsx, whose compiler would otherwise count in memory benchmarks.
 */
export function spawnFlagwright(args: string[], env: Record<string, string> = {}, compiled = false) {
  const entry = compiled ? ["dist/bundle/main.js"] : ["--import", "tsx", "src/cli/main.ts"];
  const child = spawn(process.execPath, [...entry, ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
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
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  /** Waits for a log line; fails at once (with its output) if the process exits first. */
  const waitForLog = async (match: (line: Record<string, unknown>) => boolean, what: string) => {
    try {
      return await Promise.race([
        waitFor(() => logs.find(match), { timeoutMs: 30_000, what }),
        exited.then((code) => {
          throw new Error(`${args[0]} exited ${code}: ${stderr}${JSON.stringify(logs.slice(-3))}`);
        }),
      ]);
    } catch (error) {
      await stop();
      throw error;
    }
  };
  const proc: FlagwrightProcess = { child, logs, exited, stop, stderr: () => stderr };
  return { ...proc, waitForLog };
}
