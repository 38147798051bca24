// The neutral SSE hub on a bare node:http server: a greeting, shared frames with ids, replay after
// Last-Event-ID, foreign ids, heartbeats, the cap a caller checks, and closing every stream.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, expect, it } from "vitest";
import { SseHub } from "../../../src/sse/hub.js";
import { openSse, type SseStream } from "../../support/sse.js";

let server: Server | undefined;
const streams: SseStream[] = [];

afterEach(async () => {
  for (const s of streams) s.close();
  streams.length = 0;
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function serve(hub: SseHub): Promise<string> {
  server = createServer((req, res) => {
    if (!hub.hasRoom()) {
      hub.reject();
      res.writeHead(503).end();
      return;
    }
    hub.open(req, res, "event: hello\ndata: {}\n\n");
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

async function open(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const s = await openSse(url, headers);
  streams.push(s);
  return s;
}

it("greets, then sends every published event with an id, to every stream", async () => {
  const hub = new SseHub({ retryMs: 250 });
  const url = await serve(hub);
  const a = await open(url);
  const b = await open(url);
  expect(a.status).toBe(200);
  expect(a.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
  expect(await a.event(0)).toMatchObject({ event: "hello", data: "{}" });
  await b.event(0);
  expect(hub.openStreams).toBe(2);
  hub.publish("flag", '{"n":1}');
  const event = await a.event(1);
  expect(event).toMatchObject({ event: "flag", data: '{"n":1}', id: hub.lastEventId });
  expect(await b.event(1)).toEqual(event);
  expect(a.retry).toBe(250);
  expect(hub.eventsSent).toBe(2);
});

it("replays what a reconnecting client missed, and nothing for an id of another process", async () => {
  const hub = new SseHub({ replayEvents: 2 });
  hub.publish("flag", "1");
  const after1 = hub.lastEventId as string;
  hub.publish("flag", "2");
  hub.publish("flag", "3");
  expect(hub.replayAfter(after1)).toEqual([
    expect.stringContaining("data: 2"),
    expect.stringContaining("data: 3"),
  ]);
  expect(hub.replayAfter(after1.replace(/-1$/, "-2"))).toEqual([expect.stringContaining("data: 3")]);
  // Event 1 is no longer held (two are kept): the client cannot be told what it missed.
  expect(hub.replayAfter(after1.replace(/-1$/, "-0"))).toBeUndefined();
  expect(hub.replayAfter("00000000-1")).toBeUndefined();
  expect(new SseHub().replayAfter(after1)).toBeUndefined();
});

it("sends heartbeats while streams are open, counts refusals, and closes every stream", async () => {
  const hub = new SseHub({ heartbeatMs: 20, maxStreams: 1 });
  const url = await serve(hub);
  const first = await open(url);
  const second = await open(url);
  expect(second.status).toBe(503);
  expect(hub.streamsRejected).toBe(1);
  await expect.poll(() => first.comments.length, { timeout: 2000 }).toBeGreaterThan(0);
  hub.closeAll();
  expect(hub.openStreams).toBe(0);
});
