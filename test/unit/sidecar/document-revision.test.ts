// Clients cache by the document's revision (bulk ETags, event stream validators), so the sidecar
// verifies it against the content: a document edited without a new revision must not keep
// answering 304 with the old answers.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, expect, it } from "vitest";
import { buildDocument, type FlagDocument } from "../../../src/core/index.js";
import { contentRevision } from "../../../src/source/store.js";
import { openSse } from "../../support/sse.js";
import { waitFor } from "../../support/wait.js";
import { flag, makeDocument, post, startTestSidecar, tempDir } from "./helpers.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

it("a document edited without a new revision answers anew: new ETag, an event, a logged warning", async () => {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  const file = join(dir.path, "flags.json");
  const original = makeDocument({ everyone: { percent: 100 } });
  await writeFile(file, JSON.stringify(original));
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: "info" },
    new Writable({
      write(chunk, _encoding, done) {
        logs.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  );
  const sidecar = await startTestSidecar({
    source: { kind: "file", path: file, pollIntervalMs: 20 },
    logger,
  });
  cleanups.push(() => sidecar.close());
  await sidecar.ready();
  const bulk = `${sidecar.url}/ofrep/v1/evaluate/flags`;
  const body = { context: { targetingKey: "alice" } };
  const before = await post(bulk, body);
  const etag = before.headers.get("etag") as string;
  expect((await post(bulk, body, { "if-none-match": etag })).status).toBe(304);
  const stream = await openSse(`${sidecar.url}/ofrep/v1/events`);
  cleanups.push(() => stream.close());

  // Hand-edited: the flag is off now, the revision still the old one.
  const edited: FlagDocument = { ...makeDocument({ everyone: { percent: 0 } }), revision: original.revision };
  await writeFile(file, JSON.stringify(edited));
  const event = JSON.parse((await stream.event(0)).data) as { etag: string };
  const revision = contentRevision(edited);
  expect(revision).not.toBe(original.revision);
  expect(event.etag).toBe(`"${revision}"`);

  const after = await post(bulk, body, { "if-none-match": etag });
  expect(after.status).toBe(200);
  expect(after.json).toMatchObject({ flags: [{ key: "everyone", value: false }] });
  expect(after.headers.get("etag")).not.toBe(etag);
  expect(await (await fetch(`${sidecar.url}/readyz`)).json()).toMatchObject({ revision });
  const warning = await waitFor(() => logs.find((l) => l.reason === "DocumentRevisionMismatch"), {
    what: "the mismatch logged",
  });
  expect(warning).toMatchObject({ level: 40, declaredRevision: original.revision, revision });
});

it("a document whose revision matches its content is served under that revision, with no warning", async () => {
  const doc = makeDocument({ checkout: { percent: 30 } });
  const dir = await tempDir();
  cleanups.push(dir.remove);
  await writeFile(join(dir.path, "flags.json"), JSON.stringify(doc));
  const sidecar = await startTestSidecar({ source: { kind: "file", path: dir.path } });
  cleanups.push(() => sidecar.close());
  await sidecar.ready();
  expect(sidecar.store.current?.document.revision).toBe(doc.revision);
});

it("contentRevision is the operator's revision, with and without segments", () => {
  const flags = { a: flag({ percent: 12.5, allowedUsers: ["Zoë"] }), b: flag({ enabled: false }) };
  expect(contentRevision(buildDocument("shop", flags))).toBe(buildDocument("shop", flags).revision);
  const segments = { beta: { included: ["u1"], excluded: [], when: 'plan == "pro"' } };
  const withSegments = buildDocument("shop", flags, undefined, segments);
  expect(contentRevision(withSegments)).toBe(withSegments.revision);
  expect(withSegments.revision).not.toBe(buildDocument("shop", flags).revision);
});
