// OFREP event streams (ADR 0008) on an in-process sidecar: the advertised URL, refetchEvaluation
// on change with the document's validator, stable ids, Last-Event-ID replay, heartbeats, the cap,
// and flagConfigEtag on the re-fetch.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { FlagDocument } from "../../../src/core/index.js";
import type { EventStreamOptions, Sidecar } from "../../../src/sidecar/index.js";
import { openSse, type SseStream } from "../../support/sse.js";
import { makeDocument, metricValue, post, startTestSidecar, tempDir } from "./helpers.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

const docAt = (percent: number, generatedAt?: string): FlagDocument => {
  const doc = makeDocument({ checkout: { percent } });
  if (generatedAt) doc.generatedAt = generatedAt;
  return doc;
};

async function setup(events: Partial<EventStreamOptions> = {}) {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const file = join(dir.path, "flags.json");
  await writeFile(file, JSON.stringify(docAt(10)));
  const sidecar = await startTestSidecar({
    source: { kind: "file", path: file, pollIntervalMs: 20 },
    eventStreams: events,
  });
  cleanups.push(() => sidecar.close());
  const write = async (doc: FlagDocument) => {
    await writeFile(file, JSON.stringify(doc));
  };
  return { sidecar, write };
}

async function stream(sidecar: Sidecar, headers: Record<string, string> = {}): Promise<SseStream> {
  const s = await openSse(`${sidecar.url}/ofrep/v1/events`, headers);
  cleanups.push(() => s.close());
  return s;
}

const bulkUrl = (s: Sidecar) => `${s.url}/ofrep/v1/evaluate/flags`;

describe("OFREP event streams", () => {
  it("bulk answers advertise an absolute SSE URL on the same server", async () => {
    const { sidecar } = await setup();
    const r = await post(bulkUrl(sidecar), { context: { targetingKey: "u1" } });
    expect(r.status).toBe(200);
    expect(r.json?.eventStreams).toEqual([{ type: "sse", url: `${sidecar.url}/ofrep/v1/events` }]);
    const s = await stream(sidecar);
    expect(s.status).toBe(200);
    expect(s.headers["content-type"]).toMatch(/^text\/event-stream/);
    expect(s.headers["cache-control"]).toContain("no-cache");
  });

  it("sends refetchEvaluation with the document's etag and lastModified on change, with stable ids", async () => {
    const { sidecar, write } = await setup();
    const a = await stream(sidecar);
    const b = await stream(sidecar);
    const generatedAt = "2026-11-30T12:00:05.000Z";
    const next = docAt(55, generatedAt);
    await write(next);
    const ea = await a.event(0);
    const eb = await b.event(0);
    expect(ea.event).toBe("message");
    expect(JSON.parse(ea.data)).toEqual({
      type: "refetchEvaluation",
      etag: `"${next.revision}"`,
      lastModified: Date.parse(generatedAt) / 1000,
    });
    // One event, one id: every stream sees the same id for the same change.
    expect(ea.id).toBeTruthy();
    expect(eb.id).toBe(ea.id);
    expect(a.retry).toBeGreaterThan(0);

    await write(docAt(60));
    const second = await a.event(1);
    expect(second.id).not.toBe(ea.id);
    expect(sidecar.events?.lastEventId).toBe(second.id);
    // The re-fetch the event asks for now returns the new document's answers.
    const r = await post(bulkUrl(sidecar), { context: { targetingKey: "u1" } });
    expect(r.headers.get("etag")).toContain(docAt(60).revision);
  });

  it("replays what it still holds after Last-Event-ID, and the current state for an id it no longer holds", async () => {
    const { sidecar, write } = await setup({ replayEvents: 2 });
    const watcher = await stream(sidecar);
    for (const [i, p] of [20, 30, 40].entries()) {
      await write(docAt(p));
      await watcher.event(i);
    }
    const ids = watcher.events.map((e) => e.id as string);

    // Missed two changes, both still held: both are replayed, in order, with their ids.
    const resumed = await stream(sidecar, { "last-event-id": ids[0] as string });
    await resumed.event(1);
    expect(resumed.events).toEqual(watcher.events.slice(1, 3));
    // Then live events continue on the same stream.
    await write(docAt(50));
    const live = await resumed.event(2);
    expect(live.id).toBe((await watcher.event(3)).id);

    // The change after ids[0] has now left the two-event ring: the client gets one event for the
    // current document instead.
    const evicted = await stream(sidecar, { "last-event-id": ids[0] as string });
    const current = await evicted.event(0);
    expect(JSON.parse(current.data)).toMatchObject({ etag: `"${docAt(50).revision}"` });
    await new Promise((r) => setTimeout(r, 50));
    expect(evicted.events).toHaveLength(1);
    // An id from another process (or a typo) is treated the same way, never as a position here.
    const foreign = await stream(sidecar, { "last-event-id": "deadbeef-2" });
    expect(JSON.parse((await foreign.event(0)).data).type).toBe("refetchEvaluation");
    // The latest id itself: nothing missed, nothing sent.
    const upToDate = await stream(sidecar, { "last-event-id": live.id as string });
    await write(docAt(70));
    expect(JSON.parse((await upToDate.event(0)).data).etag).toBe(`"${docAt(70).revision}"`);
  });

  it("sends heartbeats on an idle stream", async () => {
    const { sidecar } = await setup({ heartbeatMs: 30 });
    const s = await stream(sidecar);
    const deadline = Date.now() + 5000;
    while (s.comments.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(s.comments.filter((c) => c === "heartbeat").length).toBeGreaterThanOrEqual(2);
    expect(s.events).toEqual([]);
  });

  it("caps concurrent streams with a clear 503, and frees a slot when a stream closes", async () => {
    const { sidecar } = await setup({ maxStreams: 2 });
    const first = await stream(sidecar);
    await stream(sidecar);
    const third = await stream(sidecar);
    expect(third.status).toBe(503);
    expect(third.headers["retry-after"]).toBeDefined();
    await new Promise((r) => setTimeout(r, 20));
    expect(JSON.parse(third.body).errorDetails).toMatch(/at most 2/);
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    expect(metricValue(metrics, "flagwright_sidecar_event_streams")).toBe(2);
    expect(metricValue(metrics, "flagwright_sidecar_event_streams_rejected_total")).toBe(1);

    first.close();
    const deadline = Date.now() + 5000;
    while ((sidecar.events?.openStreams ?? 0) > 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect((await stream(sidecar)).status).toBe(200);
  });

  it("accepts flagConfigEtag / flagConfigLastModified on the re-fetch; a config etag it does not serve rules out 304", async () => {
    const { sidecar } = await setup();
    const first = await post(bulkUrl(sidecar), { context: { targetingKey: "u1" } });
    const etag = first.headers.get("etag") as string;
    const current = `"${docAt(10).revision}"`;
    const query = (tag: string, modified: string) =>
      `${bulkUrl(sidecar)}?flagConfigEtag=${encodeURIComponent(tag)}&flagConfigLastModified=${encodeURIComponent(modified)}`;

    // The event named the configuration served here: an unchanged answer is still a 304.
    const same = await post(
      query(current, "1764504005"),
      { context: { targetingKey: "u1" } },
      {
        "if-none-match": etag,
      },
    );
    expect(same.status).toBe(304);
    // Date-string forms are accepted too (never a 400).
    const dated = await post(query(current, "Thu, 20 Feb 2026 21:28:18 GMT"), {
      context: { targetingKey: "u1" },
    });
    expect(dated.status).toBe(200);
    // A configuration this server does not serve: the client's cache is known to be outdated, so
    // no 304 even though If-None-Match matches what is served here.
    const other = await post(
      query('"0000000000000000"', "not a date"),
      { context: { targetingKey: "u1" } },
      {
        "if-none-match": etag,
      },
    );
    expect(other.status).toBe(200);
    expect(other.json?.flags).toEqual(first.json?.flags);
  });

  it("ends open streams on shutdown so close() finishes", async () => {
    const { sidecar } = await setup();
    await stream(sidecar);
    const started = Date.now();
    await sidecar.close();
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("can be turned off: no eventStreams and no route", async () => {
    const dir = await tempDir();
    cleanups.push(dir.remove);
    const file = join(dir.path, "flags.json");
    await writeFile(file, JSON.stringify(docAt(10)));
    const sidecar = await startTestSidecar({ source: { kind: "file", path: file }, eventStreams: false });
    cleanups.push(() => sidecar.close());
    const r = await post(bulkUrl(sidecar), {});
    expect(r.json?.eventStreams).toBeUndefined();
    expect((await fetch(`${sidecar.url}/ofrep/v1/events`)).status).toBe(404);
  });
});

describe("CORS for browser clients (--cors-origin)", () => {
  it("answers preflights and adds CORS headers for an allowed origin only; none when unset", async () => {
    const dir = await tempDir();
    cleanups.push(dir.remove);
    const file = join(dir.path, "flags.json");
    await writeFile(file, JSON.stringify(docAt(10)));
    const sidecar = await startTestSidecar({
      source: { kind: "file", path: file },
      corsOrigins: ["http://shop.test"],
    });
    cleanups.push(() => sidecar.close());
    const preflight = await fetch(`${sidecar.url}/ofrep/v1/evaluate/flags`, {
      method: "OPTIONS",
      headers: {
        origin: "http://shop.test",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, if-none-match",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("http://shop.test");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("if-none-match");
    const allowed = await post(`${sidecar.url}/ofrep/v1/evaluate/flags`, {}, { origin: "http://shop.test" });
    expect(allowed.headers.get("access-control-allow-origin")).toBe("http://shop.test");
    expect(allowed.headers.get("access-control-expose-headers")).toBe("etag");
    const events = await openSse(`${sidecar.url}/ofrep/v1/events`, { origin: "http://shop.test" });
    cleanups.push(() => events.close());
    expect(events.headers["access-control-allow-origin"]).toBe("http://shop.test");
    const other = await post(`${sidecar.url}/ofrep/v1/evaluate/flags`, {}, { origin: "http://evil.test" });
    expect(other.status).toBe(200);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();

    const { sidecar: plain } = await setup();
    const none = await post(`${plain.url}/ofrep/v1/evaluate/flags`, {}, { origin: "http://shop.test" });
    expect(none.headers.get("access-control-allow-origin")).toBeNull();
  });
});
