// The sidecar under hostile clients: evaluation contexts too deep or too large, HEAD on every
// route, headers or bodies that never finish, more connections than it holds. Each is answered
// with a 4xx or a closed connection within a bound, and everyone else keeps being served.
import { writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { SidecarOptions } from "../../../src/sidecar/index.js";
import { openSse } from "../../support/sse.js";
import { waitFor } from "../../support/wait.js";
import { makeDocument, post, startTestSidecar, tempDir } from "./helpers.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

// A flag with a rule: the bulk ETag then hashes the whole context, the consumer that overflowed.
const doc = makeDocument({
  everyone: { percent: 100 },
  germany: { percent: 0, rules: [{ name: "de", when: 'country == "de"', serve: { percent: 100 } }] },
});

async function setup(options: Partial<SidecarOptions> = {}) {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const file = join(dir.path, "flags.json");
  await writeFile(file, JSON.stringify(doc));
  const sidecar = await startTestSidecar({ source: { kind: "file", path: file }, ...options });
  cleanups.push(() => sidecar.close());
  await sidecar.ready();
  return sidecar;
}

/** A context attribute nested `levels` lists deep. */
const nested = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;
const body = (contextJson: string) => `{"context":${contextJson}}`;

describe("evaluation context limits", () => {
  it("a context nested past the limit is a 400 INVALID_CONTEXT naming the limit, on every route", async () => {
    const sidecar = await setup();
    // 30,000 levels fit in 64 KiB; hashing them for the bulk ETag overflowed the stack (500).
    const deep = body(`{"targetingKey":"u","tags":${nested(30_000)}}`);
    const bulk = await post(`${sidecar.url}/ofrep/v1/evaluate/flags`, deep);
    expect(bulk.status).toBe(400);
    expect(bulk.json).toEqual({
      errorCode: "INVALID_CONTEXT",
      errorDetails: "the evaluation context is nested deeper than 32 levels of objects and lists",
    });
    const single = await post(`${sidecar.url}/ofrep/v1/evaluate/flags/germany`, deep);
    expect(single.status).toBe(400);
    expect(single.json).toMatchObject({ key: "germany", errorCode: "INVALID_CONTEXT" });
    expect(String(single.json?.errorDetails)).toContain("32 levels");
    const track = await post(`${sidecar.url}/track`, {
      flag: "germany",
      targetingKey: "u",
      event: "order",
      context: JSON.parse(`{"tags":${nested(40)}}`),
    });
    expect(track.status).toBe(400);
    expect(String(track.json?.errorDetails)).toContain("32 levels");
    // The context is level 1: 31 lists inside it make 32 levels, which is allowed.
    for (const path of ["/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/germany"]) {
      const url = `${sidecar.url}${path}`;
      expect((await post(url, body(`{"targetingKey":"u","tags":${nested(31)}}`))).status, path).toBe(200);
      expect((await post(url, body(`{"targetingKey":"u","tags":${nested(32)}}`))).status, path).toBe(400);
    }
  });

  it("a context holding more values than the limit is a 400 naming the limit", async () => {
    const sidecar = await setup();
    const list = (n: number) => JSON.stringify(Array.from({ length: n }, () => 0));
    // targetingKey and tags are two values, the list's items the rest.
    const atLimit = body(`{"targetingKey":"u","tags":${list(4094)}}`);
    const over = body(`{"targetingKey":"u","tags":${list(4095)}}`);
    const url = `${sidecar.url}/ofrep/v1/evaluate/flags`;
    expect((await post(url, atLimit)).status).toBe(200);
    const r = await post(url, over);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ errorCode: "INVALID_CONTEXT" });
    expect(String(r.json?.errorDetails)).toContain("more than 4096 values");
    const wide = JSON.stringify({
      context: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`a${i}`, i])),
    });
    expect((await post(url, wide)).status).toBe(400);
  });

  it("the limits are options", async () => {
    const sidecar = await setup({ contextLimits: { maxDepth: 3, maxValues: 5 } });
    const url = `${sidecar.url}/ofrep/v1/evaluate/flags/everyone`;
    expect((await post(url, { context: { a: { b: {} } } })).status).toBe(200);
    const deep = await post(url, { context: { a: { b: { c: {} } } } });
    expect(deep.status).toBe(400);
    expect(String(deep.json?.errorDetails)).toContain("deeper than 3 levels");
    expect((await post(url, { context: { a: [1, 2, 3], b: 1 } })).status).toBe(200);
    const many = await post(url, { context: { a: [1, 2, 3, 4], b: 1 } });
    expect(many.status).toBe(400);
    expect(String(many.json?.errorDetails)).toContain("more than 5 values");
  });
});

describe("HEAD", () => {
  it("is answered on every route, headers only, and never opens an event stream", async () => {
    const sidecar = await setup();
    // One kept-alive connection: a response left open would stall the requests queued behind it.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    const head = (path: string) =>
      new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
        const req = request(`${sidecar.url}${path}`, { method: "HEAD", agent, timeout: 3000 }, (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        });
        req.on("timeout", () => req.destroy(new Error(`HEAD ${path} was not answered`)));
        req.on("error", reject);
        req.end();
      });
    const routes: Array<[string, number]> = [
      ["/ofrep/v1/events", 200],
      ["/healthz", 200],
      ["/readyz", 200],
      ["/metrics", 200],
      ["/ofrep/v1/configuration", 200],
      ["/ofrep/v1/evaluate/flags", 405],
      ["/ofrep/v1/evaluate/flags/everyone", 405],
      ["/track", 405],
      ["/no-such-route", 404],
      ["/ofrep/v1/events", 200],
    ];
    for (const [path, status] of routes) {
      const r = await head(path);
      expect(r.status, path).toBe(status);
      if (path === "/ofrep/v1/events") expect(r.headers["content-type"], path).toMatch(/^text\/event-stream/);
    }
    expect(sidecar.events?.openStreams).toBe(0);
  });

  it("on the event stream route answers 503 when a GET would find no free stream", async () => {
    const sidecar = await setup({ eventStreams: { maxStreams: 1 } });
    const stream = await openSse(`${sidecar.url}/ofrep/v1/events`);
    cleanups.push(() => stream.close());
    expect(stream.status).toBe(200);
    const r = await fetch(`${sidecar.url}/ofrep/v1/events`, { method: "HEAD" });
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("5");
    expect(sidecar.events?.openStreams).toBe(1);
  });
});

/** A raw TCP client that records what the server sent and when it closed the connection. */
function rawClient(port: number) {
  const socket: Socket = connect(port, "127.0.0.1");
  let received = "";
  let closedAt: number | undefined;
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    received += chunk;
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    closedAt = Date.now();
  });
  cleanups.push(() => {
    socket.destroy();
  });
  return {
    socket,
    connected: new Promise<void>((resolve) => socket.once("connect", () => resolve())),
    get received() {
      return received;
    },
    get closedAt() {
      return closedAt;
    },
  };
}

const HEALTHZ = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";

describe("connection limits", () => {
  it("closes a connection whose headers never finish within the headers timeout (408)", async () => {
    const sidecar = await setup({ connectionLimits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } });
    const client = rawClient(sidecar.address.port);
    await client.connected;
    const started = Date.now();
    client.socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ");
    await waitFor(() => client.closedAt, { timeoutMs: 3000, what: "the slow client closed" });
    expect((client.closedAt as number) - started).toBeLessThan(2000);
    expect(client.received).toMatch(/^HTTP\/1\.1 408/);
  });

  it("closes a connection whose body never finishes within the request timeout", async () => {
    const sidecar = await setup({ connectionLimits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } });
    const client = rawClient(sidecar.address.port);
    await client.connected;
    const started = Date.now();
    client.socket.write(
      "POST /ofrep/v1/evaluate/flags HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    );
    await waitFor(() => client.closedAt, { timeoutMs: 3000, what: "the slow upload closed" });
    expect((client.closedAt as number) - started).toBeLessThan(2500);
    expect(client.received).toMatch(/^HTTP\/1\.1 408/);
  });

  it("keeps an event stream open past the request timeout", async () => {
    const sidecar = await setup({
      connectionLimits: { headersTimeoutMs: 100, requestTimeoutMs: 200 },
      eventStreams: { heartbeatMs: 100 },
    });
    const stream = await openSse(`${sidecar.url}/ofrep/v1/events`);
    cleanups.push(() => stream.close());
    expect(stream.status).toBe(200);
    // Heartbeats keep arriving for five times the request timeout.
    await waitFor(() => stream.comments.length >= 10, { timeoutMs: 5000, what: "ten heartbeats" });
    expect(sidecar.events?.openStreams).toBe(1);
  });

  it("closes connections beyond the cap at once and keeps serving the ones it holds", async () => {
    const sidecar = await setup({ connectionLimits: { maxConnections: 3 } });
    const held = [
      rawClient(sidecar.address.port),
      rawClient(sidecar.address.port),
      rawClient(sidecar.address.port),
    ];
    for (const client of held) {
      await client.connected;
      client.socket.write(HEALTHZ);
      await waitFor(() => client.received.includes('{"status":"ok"}'), { what: "a held client answered" });
    }
    const refused = rawClient(sidecar.address.port);
    await waitFor(() => refused.closedAt, { timeoutMs: 3000, what: "the connection over the cap closed" });
    expect(refused.received).toBe("");
    // The held connections are still served.
    for (const client of held) {
      const before = client.received.length;
      client.socket.write(HEALTHZ);
      await waitFor(() => client.received.slice(before).includes('{"status":"ok"}'), {
        what: "served again",
      });
      expect(client.closedAt).toBeUndefined();
    }
    // A freed slot takes a new connection.
    held[0]?.socket.destroy();
    await waitFor(
      async () => (await fetch(`${sidecar.url}/healthz`).catch(() => undefined))?.status === 200,
      {
        timeoutMs: 3000,
        what: "a new connection served after one closed",
      },
    );
  });
});
