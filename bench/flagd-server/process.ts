// The flagd server (bench/flagd-server, flagd v0.16.0) as its users run it: `flagd start` with a
// file sync and its default options, OFREP on its own port. flagd binds its four ports (evaluation,
// management, sync, OFREP) on every interface and cannot be given port 0, so each start takes four
// ports the kernel just handed out on loopback; it is ready once /readyz on the management port
// answers 200 and OFREP evaluates a flag of the file.
import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as delay } from "node:timers/promises";
import { freePort } from "../../test/support/prometheus.js";
import type { OfrepServerProcess } from "../flagd/process.js";

export interface FlagdServerOptions {
  /** The flagd binary (ensureFlagdServerBinary). */
  binary: string;
  /** A flagd flag definition file (.json). */
  file: string;
  /** A flag of the file, evaluated to tell that flagd has loaded it. */
  probeFlag: string;
  /** Runs flagd under this command (e.g. ["taskset", "--cpu-list", "1"]); empty: directly. */
  wrapper?: readonly string[];
  /** How long flagd may take to become ready. */
  timeoutMs?: number;
}

/** The arguments `flagd start` gets: a file sync and the given ports, nothing else changed. */
export function flagdStartArgs(
  file: string,
  ports: { evaluation: number; management: number; sync: number; ofrep: number },
): string[] {
  return [
    "start",
    "--uri",
    `file:${file}`,
    "--port",
    String(ports.evaluation),
    "--management-port",
    String(ports.management),
    "--sync-port",
    String(ports.sync),
    "--ofrep-port",
    String(ports.ofrep),
  ];
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** Starts flagd on `file` and resolves once it is ready and evaluates `probeFlag` over OFREP. */
export async function startFlagdServer(options: FlagdServerOptions): Promise<OfrepServerProcess> {
  const { binary, file, probeFlag, wrapper = [], timeoutMs = 30_000 } = options;
  const [evaluation, management, sync, ofrep] = (await distinctFreePorts(4)) as [
    number,
    number,
    number,
    number,
  ];
  const args = flagdStartArgs(file, { evaluation, management, sync, ofrep });
  const [command, ...commandArgs] = [...wrapper, binary, ...args] as [string, ...string[]];
  const child: ChildProcess = spawn(command, commandArgs, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (d: Buffer) => {
    // The start-up log tells why flagd did not start; later lines are not needed.
    if (output.length < 20_000) output += d;
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  const url = `http://127.0.0.1:${ofrep}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`flagd exited (${child.exitCode ?? child.signalCode}) before it was ready: ${output}`);
    }
    if (await ready(management, url, probeFlag)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `flagd was not ready within ${timeoutMs} ms (${[command, ...commandArgs].join(" ")}): ${output}`,
      );
    }
    await delay(50);
  }
  if (child.pid === undefined) throw new Error("flagd has no pid");
  return { child, pid: child.pid, url, stop };
}

async function ready(managementPort: number, url: string, probeFlag: string): Promise<boolean> {
  try {
    const probe = await fetch(`http://127.0.0.1:${managementPort}/readyz`);
    await probe.arrayBuffer();
    if (probe.status !== 200) return false;
    const res = await fetch(`${url}/ofrep/v1/evaluate/flags/${encodeURIComponent(probeFlag)}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ context: { targetingKey: "probe" } }),
    });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false; // not listening yet
  }
}
