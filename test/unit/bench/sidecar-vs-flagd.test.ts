// The sidecar-vs-flagd benchmark's round structure: the fixed-rate slices run A B B A, so that a
// drift in the machine's load weighs on both servers alike, and a server's round figure is the
// mean of its slices; flagd is started as its users start it, with a file sync.
import { describe, expect, it } from "vitest";
import { flagdStartArgs } from "../../../bench/flagd-server/process.js";
import { abba, combineSlices } from "../../../bench/sidecar-vs-flagd.bench.js";

const slice = (p99: number, failed = 0) => ({
  rps: 1400,
  p50: 1,
  p99,
  p999: p99 * 2,
  failed,
  cpuPer1k: p99 / 10,
  serverCpu: 0.5,
  generatorCpu: Number.NaN,
});

describe("sidecar-vs-flagd rounds", () => {
  it("orders the fixed-rate slices A B B A, whichever server goes first", () => {
    expect(abba(["sidecar", "flagd"] as const)).toEqual(["sidecar", "flagd", "flagd", "sidecar"]);
    expect(abba(["flagd", "sidecar"] as const)).toEqual(["flagd", "sidecar", "sidecar", "flagd"]);
  });

  it("a server's round figure is the mean of its two slices, failures summed", () => {
    const combined = combineSlices([slice(100, 1), slice(300, 2)]);
    expect(combined).toMatchObject({ rps: 1400, p99: 200, p999: 400, cpuPer1k: 20, failed: 3 });
  });

  it("starts flagd with a file sync, its evaluation and sync services on Unix sockets, two ports given", () => {
    expect(flagdStartArgs("/tmp/flags.flagd.json", "/tmp/flagd-x", { management: 2, ofrep: 4 })).toEqual([
      "start",
      "--uri",
      "file:/tmp/flags.flagd.json",
      "--socket-path",
      "/tmp/flagd-x/evaluation.sock",
      "--sync-socket-path",
      "/tmp/flagd-x/sync.sock",
      "--management-port",
      "2",
      "--ofrep-port",
      "4",
    ]);
  });
});
