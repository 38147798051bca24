// What the benchmarks read from /proc (Linux): a server process's memory and CPU so far, a CPU's
// busy and stolen time (a shared host's noise), and the machine's load average, which every report
// records.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";

const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** Resident memory of a process, current (VmRSS) or peak (VmHWM), in MiB. */
export function memoryMiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** User + system CPU a process has used so far, in ms (/proc/PID/stat fields 14 and 15). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** The 1, 5 and 15 minute load averages, as the reports print them. */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}

/** What one CPU of /proc/stat has done so far, in ms: busy (user, nice, system, irq, softirq) and steal. */
export interface CpuTimes {
  busyMs: number;
  /** Time the hypervisor ran something else while this CPU wanted to run. */
  stealMs: number;
}

/** CPU `cpu`'s times so far ("" for the sum over all CPUs). */
export function cpuTimes(cpu: string): CpuTimes {
  const line = readFileSync("/proc/stat", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`cpu${cpu} `));
  const ticks = (line ?? "").trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = ticks;
  const ms = (t: number) => (t * 1000) / CLOCK_TICKS;
  return { busyMs: ms(user + nice + system + irq + softirq), stealMs: ms(steal) };
}

/**
 * The share of the time CPU `cpu` wanted to run between two readings that the hypervisor gave to
 * something else: steal ÷ (busy + steal). On a shared host it is what a noisy neighbour costs.
 */
export function stolenShare(before: CpuTimes, after: CpuTimes): number {
  const steal = after.stealMs - before.stealMs;
  const wanted = after.busyMs - before.busyMs + steal;
  return wanted > 0 ? steal / wanted : 0;
}
