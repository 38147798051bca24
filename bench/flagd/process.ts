// An OFREP server process for the benchmarks (flagd from bench/flagd, or the compiled `flagwright
// sidecar`): both print a JSON line with the URL they listen at and then one when the flags are
// loaded, on stdout: flagd's wrapper {"event":"listening"} and {"event":"document_loaded"}, the
// sidecar {"reason":"Listening"} and {"reason":"DocumentLoaded"}.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

export interface OfrepServerProcess {
  child: ChildProcess;
  pid: number;
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
}

/** Starts `command args` and resolves once it listens and has loaded its flags. */
export async function startOfrepServer(command: string, args: string[]): Promise<OfrepServerProcess> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
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
  let loaded = false;
  for await (const line of createInterface({ input: child.stdout })) {
    let event: { event?: string; reason?: string; url?: string };
    try {
      event = JSON.parse(line);
    } catch {
      continue;
    }
    if (event.event === "listening" || event.reason === "Listening") url = event.url;
    if (event.event === "document_loaded" || event.reason === "DocumentLoaded") loaded = true;
    if (url !== undefined && loaded) break;
  }
  if (url === undefined || !loaded || child.pid === undefined) {
    await stop();
    throw new Error(`${command} did not start (exit ${child.exitCode ?? child.signalCode}): ${stderr}`);
  }
  child.stdout.resume();
  return { child, pid: child.pid, url, stop };
}

/** flagd (the binary from ensureFlagdBinary) serving a flagd flag definition file. */
export function startFlagd(binary: string, file: string): Promise<OfrepServerProcess> {
  return startOfrepServer(binary, ["--file", file, "--listen", "127.0.0.1:0"]);
}
