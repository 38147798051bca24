import { afterEach, describe, expect, it, vi } from "vitest";
import { WorkQueue } from "../../../src/operator/queue.js";

describe("WorkQueue", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("de-duplicates keys waiting to be processed", async () => {
    const queue = new WorkQueue();
    queue.add("a");
    queue.add("b");
    queue.add("a");
    expect(queue.length).toBe(2);
    expect(await queue.get()).toBe("a");
    expect(await queue.get()).toBe("b");
  });

  it("never hands a key to two workers: a key added while processing waits until done", async () => {
    const queue = new WorkQueue();
    queue.add("ns");
    const key = await queue.get();
    queue.add("ns");
    expect(queue.length).toBe(0); // held back while "ns" is being processed
    let second: string | undefined;
    void queue.get().then((k) => {
      second = k;
    });
    await Promise.resolve();
    expect(second).toBeUndefined();
    queue.done(key ?? "");
    await Promise.resolve();
    expect(second).toBe("ns");
  });

  it("backs off exponentially per key and resets after forget", async () => {
    vi.useFakeTimers();
    const queue = new WorkQueue(undefined, { baseDelayMs: 100, maxDelayMs: 350 });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const start = Date.now();
      queue.addRateLimited("k");
      let waited = 0;
      while (queue.length === 0 && waited < 10_000) {
        vi.advanceTimersByTime(10);
        waited += 10;
      }
      delays.push(waited);
      expect(Date.now() - start).toBe(waited);
      queue.done((await queue.get()) ?? "");
    }
    expect(delays).toEqual([100, 200, 350, 350]);
    queue.forget("k");
    queue.addRateLimited("k");
    vi.advanceTimersByTime(100);
    expect(queue.length).toBe(1);
  });

  it("keeps the earliest of several delayed adds", () => {
    vi.useFakeTimers();
    const queue = new WorkQueue();
    queue.addAfter("k", 5_000);
    queue.addAfter("k", 1_000);
    queue.addAfter("k", 3_000);
    vi.advanceTimersByTime(1_000);
    expect(queue.length).toBe(1);
  });

  it("drains queued keys on shutdown, then returns undefined", async () => {
    const queue = new WorkQueue();
    queue.add("a");
    queue.shutDown();
    queue.add("b");
    expect(await queue.get()).toBe("a");
    expect(await queue.get()).toBeUndefined();
  });
});
