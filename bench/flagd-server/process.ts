// The flagd server (bench/flagd-server) as its users run it: `flagd start` with a file sync and
// its default options, OFREP on its own port. flagd opens its OFREP and management ports on every
// interface, with no flag to bind them to one address, so it is started only where every interface
// is loopback: in a private network namespace (bench/private-network.ts). Its evaluation and sync
// services, which can listen on a Unix socket instead, do so, in a private folder, and open no
// port at all. flagd cannot be given port 0, so the two ports are ones the kernel just handed out
// on loopback; it is ready once /readyz on the management port answers 200 and OFREP evaluates a
// flag of the file.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { freePort } from "../../test/support/prometheus.js";
import type { OfrepServerProcess } from "../flagd/process.js";
import { onlyLoopback } from "../private-network.js";

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

/**
 * The arguments `flagd start` gets: a file sync, the evaluation and sync services on Unix sockets
 * in `socketDir`, the given management and OFREP ports; nothing else changed.
 */
export function flagdStartArgs(
  file: string,
  socketDir: string,
  ports: { management: number; ofrep: number },
): string[] {
  return [
    "start",
    "--uri",
    `file:${file}`,
    "--socket-path",
    join(socketDir, "evaluation.sock"),
    "--sync-socket-path",
    join(socketDir, "sync.sock"),
    "--management-port",
    String(ports.management),
    "--ofrep-port",
    String(ports.ofrep),
  ];
}

/** Why flagd is not started outside a private network namespace. */
export const FLAGD_NEEDS_PRIVATE_NETWORK =
  "the flagd server opens its OFREP and management ports on every interface (it has no flag to bind them to one address): " +
  "start it only in a private network namespace, where every interface is loopback (runInPrivateNetwork in bench/private-network.ts)";

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** Starts flagd on `file` and resolves once it is ready and evaluates `probeFlag` over OFREP. */
export async function startFlagdServer(options: FlagdServerOptions): Promise<OfrepServerProcess> {
  const { binary, file, probeFlag, wrapper = [], timeoutMs = 30_000 } = options;
  if (!onlyLoopback()) throw new Error(FLAGD_NEEDS_PRIVATE_NETWORK);
  const [management, ofrep] = (await distinctFreePorts(2)) as [number, number];
  const socketDir = await mkdtemp(join(tmpdir(), "flagd-"));
  const args = flagdStartArgs(file, socketDir, { management, ofrep });
  const [command, ...commandArgs] = [...wrapper, binary, ...args] as [string, ...string[]];
  const child: ChildProcess = spawn(command, commandArgs, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (d: Buffer) => {
    // The start-up log tells why flagd did not start; later lines are not needed.
    if (output.length < 20_000) output += d;
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve())).then(() =>
    rm(socketDir, { recursive: true, force: true }),
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  const url = `http://127.0.0.1:${ofrep}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await exited;
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

/** One flag of an OFREP bulk answer. */
export interface BulkFlag {
  key: string;
  value?: unknown;
  errorCode?: string;
}

/**
 * Starts flagd on `file`, asks its OFREP bulk evaluation for each user, stops it and returns the
 * answers by user. Runs only in a private network namespace (runInPrivateNetwork).
 */
export async function bulkAnswers(input: {
  binary: string;
  file: string;
  probeFlag: string;
  users: string[];
}): Promise<Record<string, { status: number; flags: BulkFlag[] }>> {
  const flagd = await startFlagdServer(input);
  try {
    const answers: Record<string, { status: number; flags: BulkFlag[] }> = {};
    for (const user of input.users) {
      const res = await fetch(`${flagd.url}/ofrep/v1/evaluate/flags`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ context: { targetingKey: user } }),
      });
      const body = (await res.json()) as { flags?: BulkFlag[] };
      answers[user] = { status: res.status, flags: body.flags ?? [] };
    }
    return answers;
  } finally {
    await flagd.stop();
  }
}
