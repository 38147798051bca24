// CPU pinning for server benchmarks on a small machine: the server on CPU 1 from its first
// instruction (so runtimes size themselves for one CPU: Go's GOMAXPROCS, Node's thread pools), the
// load generators (this process and the children it spawns after pinSelf) on CPU 0, so the
// server's latency is not the scheduler's time-slicing between it and its own clients. As in a
// cluster, where the clients (and an attacker) run on other machines. Other processes on the
// machine are not kept away.
import { execFileSync, spawnSync } from "node:child_process";
import os from "node:os";

export const SERVER_CPU = "1";
export const GENERATOR_CPU = "0";

export interface Pinning {
  /** Whether pinning is on (taskset present, two or more CPUs, not turned off by the env var). */
  on: boolean;
  /** `command args` wrapped to run on the server CPU (unchanged when pinning is off). */
  pinned(command: string, args: string[]): [string, string[]];
  /** Moves this process (all threads) to the generator CPU; returns a function restoring it. */
  pinSelf(): () => void;
  /** One sentence for the report. */
  describe(): string;
}

/** Pinning unless `offVariable` is set to "0" (on a machine busy with other work a pinned server cannot move away from a crowded CPU). */
export function cpuPinning(offVariable: string): Pinning {
  const hasTaskset = spawnSync("taskset", ["--version"]).status === 0;
  const on = hasTaskset && os.cpus().length >= 2 && process.env[offVariable] !== "0";
  return {
    on,
    pinned: (command, args) =>
      on ? ["taskset", ["--cpu-list", SERVER_CPU, command, ...args]] : [command, args],
    pinSelf() {
      if (!on) return () => {};
      const original = execFileSync("taskset", ["--pid", String(process.pid)], { encoding: "utf8" })
        .trim()
        .split(/\s+/)
        .pop();
      execFileSync("taskset", ["--all-tasks", "--pid", "--cpu-list", GENERATOR_CPU, String(process.pid)]);
      let restored = false;
      return () => {
        if (restored || !original) return;
        restored = true;
        execFileSync("taskset", ["--all-tasks", "--pid", original, String(process.pid)]);
      };
    },
    describe: () =>
      on
        ? `Pinned with taskset: the server on CPU ${SERVER_CPU} from its start, the load generators on CPU ${GENERATOR_CPU}; other processes on the machine are not kept away (${offVariable}=0 turns it off).`
        : `Not pinned (${offVariable}=0, no taskset, or a single core): the load generators and the server share the CPUs.`,
  };
}
