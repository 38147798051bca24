// A sidecar with an event store, against a store the test holds back: exposures and conversions
// become events with a keyed context id, a full buffer pushes back (/track answers 503 and counts
// nothing; a dropped exposure is offered again at the user's next evaluation), and close() writes
// every held event.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ExperimentEvent } from "../../../src/experiment/event-store.js";
import { waitFor } from "../../support/wait.js";
import { makeDocument, metricValue, post, startTestSidecar, tempDir } from "./helpers.js";

const doc = makeDocument({
  banner: {
    percent: 100,
    variants: [
      { name: "red", weight: 50 },
      { name: "blue", weight: 50 },
    ],
  },
});
const KEY = new TextEncoder().encode("0123456789abcdef0123456789abcdef");

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** A store that takes writes only while open. */
function heldStore() {
  const rows: ExperimentEvent[] = [];
  let open = false;
  return {
    rows,
    open: () => {
      open = true;
    },
    writer: {
      async insert(events: readonly ExperimentEvent[]) {
        if (!open) throw new Error("store unavailable");
        rows.push(...events);
      },
      close: async () => {},
    },
  };
}

async function setup(store: ReturnType<typeof heldStore>, maxPending: number) {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const file = join(dir.path, "flags.json");
  await writeFile(file, JSON.stringify(doc));
  const sidecar = await startTestSidecar({
    source: { kind: "file", path: file, pollIntervalMs: 50 },
    exposureKey: KEY,
    eventStore: { writer: store.writer, maxPending, flushIntervalMs: 5 },
  });
  let closed = false;
  cleanups.push(async () => {
    if (!closed) await sidecar.close();
  });
  await sidecar.ready();
  return {
    sidecar,
    close: async () => {
      closed = true;
      await sidecar.close();
    },
  };
}

describe("sidecar experiment events", () => {
  it("refuses an event store without a shared exposure key", async () => {
    const dir = await tempDir();
    cleanups.push(dir.remove);
    await expect(
      startTestSidecar({
        source: { kind: "file", path: join(dir.path, "flags.json") },
        eventStore: { writer: heldStore().writer },
      }),
    ).rejects.toThrow(/exposure key/);
  });

  it("pushes back when full: /track answers 503, an exposure is dropped and offered again later", async () => {
    const store = heldStore();
    const { sidecar, close } = await setup(store, 2);
    const evaluate = (user: string) =>
      post(`${sidecar.url}/ofrep/v1/evaluate/flags/banner`, { context: { targetingKey: user } });
    expect((await evaluate("alice")).status).toBe(200);
    expect((await evaluate("bob")).status).toBe(200);
    // Full (the store refuses writes): a third user's exposure is dropped, a conversion refused.
    expect((await evaluate("carol")).status).toBe(200);
    const track = await post(`${sidecar.url}/track`, { flag: "banner", targetingKey: "alice", event: "buy" });
    expect(track.status).toBe(503);
    expect(track.headers.get("retry-after")).toBe("1");
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    expect(metricValue(metrics, "flagwright_experiment_events_dropped_total", { kind: "exposure" })).toBe(1);
    expect(metricValue(metrics, "flagwright_experiment_events_dropped_total", { kind: "conversion" })).toBe(
      1,
    );
    // Nothing counted for the refused conversion, so the application's retry counts once.
    expect(metricValue(metrics, "flagwright_conversions_total", { flag: "banner" })).toBeUndefined();

    store.open();
    await waitFor(() => store.rows.length === 2, { what: "the held exposures written" });
    expect((await evaluate("carol")).status).toBe(200);
    expect((await evaluate("alice")).status).toBe(200);
    const retried = await post(`${sidecar.url}/track`, {
      flag: "banner",
      targetingKey: "alice",
      event: "buy",
    });
    expect(retried.status).toBe(200);
    await close();
    expect(store.rows.map((e) => [e.kind, e.name])).toEqual([
      ["exposure", "feature_flag.evaluation"],
      ["exposure", "feature_flag.evaluation"],
      ["exposure", "feature_flag.evaluation"],
      ["conversion", "buy"],
    ]);
    // The context id is keyed: the same user has one id, never the raw targeting key.
    const alice = store.rows.filter((e) => e.contextId === store.rows[0]?.contextId);
    expect(alice.map((e) => e.kind)).toEqual(["exposure", "conversion"]);
    expect(store.rows.some((e) => e.contextId.includes("alice"))).toBe(false);
  });

  it("writes every held event when it is closed", async () => {
    const store = heldStore();
    const { sidecar, close } = await setup(store, 1_000);
    for (const user of ["u1", "u2", "u3"]) {
      await post(`${sidecar.url}/ofrep/v1/evaluate/flags/banner`, { context: { targetingKey: user } });
    }
    await post(`${sidecar.url}/track`, { flag: "banner", targetingKey: "u2", event: "buy", value: 12.5 });
    expect(store.rows).toEqual([]);
    store.open();
    await close();
    expect(store.rows).toHaveLength(4);
    expect(store.rows[3]).toMatchObject({ kind: "conversion", name: "buy", value: 12.5, namespace: "shop" });
  });
});
