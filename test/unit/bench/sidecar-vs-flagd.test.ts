// The sidecar-vs-flagd benchmark's round structure: the fixed-rate slices run A B B A A B, so that a
// drift in the machine's load weighs on both servers alike, and a server's round latency is the
// median of its slices'; a measurement the hypervisor disturbed is taken again; flagd is started as
// its users start it, with a file sync.
import { describe, expect, it } from "vitest";
import { flagdStartArgs } from "../../../bench/flagd-server/process.js";
import {
  combineSlices,
  holdableRate,
  MEASURE_ATTEMPTS,
  measureUndisturbed,
  roundUndisturbed,
  STEAL_LIMIT,
  sliceOrder,
} from "../../../bench/sidecar-vs-flagd.bench.js";

const slice = (p99: number, failed = 0) => ({
  rps: 1400,
  p50: 1,
  p99,
  p999: p99 * 2,
  failed,
  cpuPer1k: p99 / 10,
  serverCpu: 0.5,
  generatorCpu: Number.NaN,
  stolenShare: 0.01,
});

describe("sidecar-vs-flagd rounds", () => {
  it("orders the fixed-rate slices A B B A A B, whichever server goes first", () => {
    const s = "sidecar";
    const f = "flagd";
    expect(sliceOrder([s, f] as const)).toEqual([s, f, f, s, s, f]);
    expect(sliceOrder([f, s] as const)).toEqual([f, s, s, f, f, s]);
  });

  it("a server's round latency is the median of its slices, so one disturbed slice does not set it", () => {
    const combined = combineSlices([slice(2, 1), slice(50, 2), slice(3)]);
    expect(combined).toMatchObject({ p99: 3, p999: 6, failed: 3 });
    // Rates and CPU are means over the slices.
    expect(combined.cpuPer1k).toBeCloseTo(5.5 / 3);
    expect(combined.rps).toBe(1400);
  });

  it("measures again while the hypervisor takes more than the limit, pausing longer each time", async () => {
    const shares = [0.4, 0.2, STEAL_LIMIT, 0.3];
    let calls = 0;
    const pauses: number[] = [];
    const { load, setAside } = await measureUndisturbed(
      async () => ({ stolenShare: shares[calls++] as number }),
      {
        sleep: async (ms) => void pauses.push(ms),
      },
    );
    expect(load.stolenShare).toBe(STEAL_LIMIT);
    expect(setAside).toEqual([0.4, 0.2]);
    expect(calls).toBe(3);
    expect(pauses).toEqual([5000, 10000]);
  });

  it("keeps a quiet measurement at once, and the last attempt whatever its steal", async () => {
    const sleep = async () => {};
    let calls = 0;
    expect(await measureUndisturbed(async () => ({ stolenShare: 0, n: ++calls }), { sleep })).toEqual({
      load: { stolenShare: 0, n: 1 },
      setAside: [],
    });
    calls = 0;
    const noisy = await measureUndisturbed(async () => ({ stolenShare: 0.5, n: ++calls }), { sleep });
    expect(noisy.load.n).toBe(MEASURE_ATTEMPTS);
    expect(noisy.setAside).toHaveLength(MEASURE_ATTEMPTS - 1);
  });

  it("leaves a round out when most of either server's kept slices were still disturbed", () => {
    const quiet = [0.01, 0, 0.02];
    expect(roundUndisturbed([quiet, quiet])).toBe(true);
    // One disturbed slice of three: the median slice is a quiet one.
    expect(roundUndisturbed([[0.01, 0.4, 0.02], quiet])).toBe(true);
    expect(roundUndisturbed([quiet, [0.5, 0.4, 0.02]])).toBe(false);
    expect(roundUndisturbed([[0.5, 0.4, 0.45], quiet])).toBe(false);
  });

  it("holds the latency runs at a quarter of the slower server's saturation, to two significant digits", () => {
    expect(holdableRate([29_000, 7_473])).toBe(1800);
    expect(holdableRate([30, 9])).toBe(2);
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
