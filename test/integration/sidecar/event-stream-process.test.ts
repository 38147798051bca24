// OFREP event streams against the real `flagwright sidecar` process: a kubelet-style volume swap
// reaches a connected client as refetchEvaluation, ids resume with Last-Event-ID, heartbeats flow,
// the stream cap answers 503, and the re-fetch with flagConfigEtag is served.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { FlagDocument } from "../../../src/core/index.js";
import { kubeletWrite, makeDocument, tempDir } from "../../support/flag-documents.js";
import { type SidecarProcess, sidecarLogged, startFileSidecarProcess } from "../../support/processes.js";
import { openSse, type SseStream } from "../../support/sse.js";

const docAt = (percent: number): FlagDocument => makeDocument({ checkout: { percent } });

let dir: Awaited<ReturnType<typeof tempDir>>;
let proc: SidecarProcess;
let url = "";
const streams: SseStream[] = [];

beforeAll(async () => {
  dir = await tempDir();
  await kubeletWrite(dir.path, { "flags.json": JSON.stringify(docAt(10)) });
  proc = await startFileSidecarProcess(
    dir.path,
    ["--max-event-streams", "2", "--heartbeat-interval", "200"],
    {
      loaded: true,
    },
  );
  url = proc.url;
});

afterAll(async () => {
  for (const s of streams) s.close();
  await proc?.stop();
  await dir?.remove();
});

async function open(headers: Record<string, string> = {}) {
  const s = await openSse(`${url}/ofrep/v1/events`, headers);
  streams.push(s);
  return s;
}

it("a document change reaches a connected client; ids resume; heartbeats; cap; flagConfigEtag", async () => {
  const bulk = await fetch(`${url}/ofrep/v1/evaluate/flags`, {
    method: "POST",
    body: JSON.stringify({ context: { targetingKey: "u1" } }),
  });
  const body = (await bulk.json()) as { eventStreams: Array<{ type: string; url: string }> };
  expect(body.eventStreams).toEqual([{ type: "sse", url: `${url}/ofrep/v1/events` }]);
  const cachedEtag = bulk.headers.get("etag") as string;

  const client = await open();
  expect(client.status).toBe(200);
  await kubeletWrite(dir.path, { "flags.json": JSON.stringify(docAt(40)) });
  const event = await client.event(0, 10_000);
  const data = JSON.parse(event.data) as { type: string; etag: string; lastModified: number };
  expect(data.type).toBe("refetchEvaluation");
  expect(data.etag).toBe(`"${docAt(40).revision}"`);
  expect(Number.isInteger(data.lastModified)).toBe(true);

  // The re-fetch the event triggers, as ADR 0008 providers send it.
  const refetch = await fetch(
    `${url}/ofrep/v1/evaluate/flags?flagConfigEtag=${encodeURIComponent(data.etag)}&flagConfigLastModified=${data.lastModified}`,
    {
      method: "POST",
      headers: { "if-none-match": cachedEtag },
      body: JSON.stringify({ context: { targetingKey: "u1" } }),
    },
  );
  expect(refetch.status).toBe(200);
  expect(refetch.headers.get("etag")).toContain(docAt(40).revision);

  // Heartbeats keep the idle stream alive.
  const heartbeatDeadline = Date.now() + 5000;
  while (client.comments.length < 2 && Date.now() < heartbeatDeadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(client.comments).toContain("heartbeat");

  // A client that missed the next change resumes from its last id and gets exactly that change.
  client.close();
  await kubeletWrite(dir.path, { "flags.json": JSON.stringify(docAt(70)) });
  await proc.waitForLog(
    sidecarLogged("DocumentLoaded", (l) => l.revision === docAt(70).revision),
    "the 70 % document",
  );
  const resumed = await open({ "last-event-id": event.id as string });
  const missed = await resumed.event(0);
  expect(JSON.parse(missed.data).etag).toBe(`"${docAt(70).revision}"`);
  expect(missed.id).not.toBe(event.id);

  // Cap of 2: the closed client's slot is free again, a third concurrent stream is refused.
  await open();
  const deadline = Date.now() + 5000;
  let refused: SseStream | undefined;
  while (Date.now() < deadline) {
    const s = await open();
    if (s.status === 503) {
      refused = s;
      break;
    }
    s.close();
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(refused?.status).toBe(503);
});
