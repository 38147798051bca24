// Runs the flagd OFREP server (bench/flagd/main.go) on a flag definition file, on a free loopback port.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

export interface FlagdProcess {
  child: ChildProcess;
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
}

/** Starts `binary --file FILE` and resolves once it has loaded the file and listens. */
export async function startFlagd(binary: string, file: string): Promise<FlagdProcess> {
  const child = spawn(binary, ["--file", file, "--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  let url: string | undefined;
  for await (const line of createInterface({ input: child.stdout })) {
    const event = JSON.parse(line) as { event?: string; url?: string };
    if (event.event === "listening") url = event.url;
    if (event.event === "document_loaded") break;
  }
  if (url === undefined) {
    await stop();
    throw new Error(`flagd did not start (exit ${child.exitCode ?? child.signalCode}): ${stderr}`);
  }
  child.stdout.resume();
  return { child, url, stop };
}
