// The manager: runnables that need no leadership start at once and in order, the leader's only
// once leading (at once without leader election); stop aborts their signal first, stops the
// leader's runnables, then the rest, each in reverse start order.
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { Manager, type Runnable } from "../../../src/operator/manager.js";

function recorder() {
  const steps: string[] = [];
  const runnable = (name: string, needsLeadership: boolean): Runnable => ({
    name,
    needsLeadership,
    start: async (signal) => {
      steps.push(`start ${name}`);
      signal.addEventListener("abort", () => steps.push(`abort ${name}`));
    },
    stop: async () => {
      steps.push(`stop ${name}`);
    },
  });
  return { steps, runnable };
}

describe("Manager", () => {
  it("starts every replica's runnables, then the leader's; stops the leader's first, in reverse", async () => {
    const { steps, runnable } = recorder();
    const leadership: boolean[] = [];
    const manager = new Manager({
      kc: new KubeConfig(),
      log: pino({ level: "silent" }),
      identity: "test",
      onLeadership: (leading) => leadership.push(leading),
    });
    for (const [name, leader] of [
      ["http", false],
      ["workers", true],
      ["cache", false],
      ["loop", true],
    ] as const)
      manager.add(runnable(name, leader));
    await manager.start();
    await new Promise((resolve) => setImmediate(resolve));
    expect(manager.isLeader).toBe(true);
    expect(leadership).toEqual([true]);
    expect(steps).toEqual(["start http", "start cache", "start workers", "start loop"]);

    steps.length = 0;
    expect(manager.stopping).toBe(false);
    await manager.stop();
    expect(manager.stopping).toBe(true);
    expect(steps.filter((s) => s.startsWith("stop"))).toEqual([
      "stop loop",
      "stop workers",
      "stop cache",
      "stop http",
    ]);
    // Every runnable is told to stop taking work before the first one is stopped.
    expect(steps.indexOf("stop loop")).toBe(4);
  });

  it("does not start the leader's runnables once stopping", async () => {
    const { steps, runnable } = recorder();
    const manager = new Manager({ kc: new KubeConfig(), log: pino({ level: "silent" }), identity: "test" });
    manager.add(runnable("cache", false));
    manager.add(runnable("workers", true));
    const stopped = manager.stop();
    await manager.start();
    await stopped;
    expect(steps).toEqual([]);
  });
});
