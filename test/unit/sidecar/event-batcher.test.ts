// The experiment event batcher: bounded memory, back-pressure when full, every accepted event
// written on a clean shutdown (also after failed writes), and what a dead store leaves unwritten.
import { describe, expect, it } from "vitest";
import { EventBatcher } from "../../../src/sidecar/event-batcher.js";
import { waitFor } from "../../support/wait.js";

/** A store whose writes wait until the test lets them through. */
function gatedStore() {
  const written: number[] = [];
  let open!: () => void;
  let gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let writes = 0;
  return {
    written,
    get writes() {
      return writes;
    },
    release() {
      open();
      gate = Promise.resolve();
    },
    async write(batch: readonly number[]) {
      writes++;
      await gate;
      written.push(...batch);
    },
  };
}

describe("EventBatcher", () => {
  it("holds at most maxPending events, counting the write in flight, and refuses more", async () => {
    const store = gatedStore();
    const batcher = new EventBatcher<number>({ write: (b) => store.write(b), maxPending: 10 });
    const accepted = Array.from({ length: 15 }, (_, i) => batcher.offer(i));
    expect(accepted.filter(Boolean)).toHaveLength(10);
    expect(accepted.slice(10)).toEqual([false, false, false, false, false]);
    expect(batcher.held).toBe(10);
    // Half full started a write (which the store holds): its events still count against the bound.
    expect(store.writes).toBe(1);
    store.release();
    await waitFor(() => batcher.held === 0, { what: "the held events to be written" });
    expect(batcher.offer(99)).toBe(true);
    await batcher.close(1_000);
    expect(store.written).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99]);
  });

  it("writes a partial batch after the flush interval", async () => {
    const store = gatedStore();
    store.release();
    const batcher = new EventBatcher<number>({ write: (b) => store.write(b), flushIntervalMs: 20 });
    batcher.offer(1);
    batcher.offer(2);
    await waitFor(() => store.written.length === 2, { what: "the interval's write" });
    expect(store.written).toEqual([1, 2]);
    await batcher.close();
  });

  it("writes every accepted event on close, however long the flush interval", async () => {
    const store = gatedStore();
    store.release();
    const batcher = new EventBatcher<number>({
      write: (b) => store.write(b),
      maxPending: 1_000,
      flushIntervalMs: 3_600_000,
    });
    for (let i = 0; i < 7; i++) batcher.offer(i);
    expect(store.written).toEqual([]);
    expect(await batcher.close(1_000)).toEqual({ written: 7, lost: 0 });
    expect(store.written).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(batcher.offer(7)).toBe(false);
  });

  it("keeps a failed batch and retries it, in order, losing nothing", async () => {
    const written: number[] = [];
    let failures = 0;
    const errors: string[] = [];
    const batcher = new EventBatcher<number>({
      async write(batch) {
        if (failures < 3) {
          failures++;
          throw new Error("connection refused");
        }
        written.push(...batch);
      },
      maxPending: 100,
      flushIntervalMs: 5,
      retryDelayMs: 5,
      onWriteError: (error, held) => errors.push(`${error.message} (${held})`),
    });
    for (let i = 0; i < 5; i++) batcher.offer(i);
    await waitFor(() => written.length === 5, { what: "the retried batch" });
    batcher.offer(5);
    expect(await batcher.close(1_000)).toEqual({ written: 1, lost: 0 });
    expect(written).toEqual([0, 1, 2, 3, 4, 5]);
    expect(errors[0]).toBe("connection refused (5)");
    expect(errors).toHaveLength(3);
  });

  it("reports what a store that stays down leaves unwritten when close's deadline passes", async () => {
    const batcher = new EventBatcher<number>({
      write: async () => {
        throw new Error("down");
      },
      retryDelayMs: 5,
      flushIntervalMs: 3_600_000,
    });
    for (let i = 0; i < 4; i++) batcher.offer(i);
    const started = Date.now();
    expect(await batcher.close(100)).toEqual({ written: 0, lost: 4 });
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
