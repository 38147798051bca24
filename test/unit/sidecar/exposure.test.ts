// The exposure log's user hash: an HMAC under the install's key. A plain sha256 of an e-mail
// address or a numeric id is reversed by hashing the candidates; a keyed hash is not without the key.
import { createHash, createHmac } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, expect, it } from "vitest";
import { exposureKeyOf } from "../../../src/sidecar/exposure.js";
import type { SidecarOptions } from "../../../src/sidecar/index.js";
import { makeDocument, post, startTestSidecar, tempDir } from "./helpers.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

const USER = "alice@example.com";

/** The `user` field a sidecar started with `options` logs for USER. */
async function loggedHash(options: Partial<SidecarOptions> = {}): Promise<string> {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  await writeFile(join(dir.path, "flags.json"), JSON.stringify(makeDocument({ checkout: { percent: 100 } })));
  const exposureLog = join(dir.path, "exposures.jsonl");
  const sidecar = await startTestSidecar({
    source: { kind: "file", path: dir.path },
    exposureLog,
    ...options,
  });
  await sidecar.ready();
  expect(
    (await post(`${sidecar.url}/ofrep/v1/evaluate/flags/checkout`, { context: { targetingKey: USER } }))
      .status,
  ).toBe(200);
  await sidecar.close();
  const [line] = (await readFile(exposureLog, "utf8")).trim().split("\n");
  const event = JSON.parse(line as string) as Record<string, unknown>;
  expect(Object.keys(event)).toEqual(["time", "flag", "variant", "reason", "user", "revision"]);
  return String(event.user);
}

it("is HMAC-SHA256 under the configured key, 16 hex characters, the same in every sidecar given the key", async () => {
  const key = new TextEncoder().encode("an install-wide exposure key");
  const hash = await loggedHash({ exposureKey: key });
  expect(hash).toBe(createHmac("sha256", key).update(USER).digest("hex").slice(0, 16));
  expect(hash).not.toBe(createHash("sha256").update(USER).digest("hex").slice(0, 16));
  expect(await loggedHash({ exposureKey: key })).toBe(hash);
  expect(
    await loggedHash({ exposureKey: new TextEncoder().encode("another install's exposure key") }),
  ).not.toBe(hash);
});

it("without a key, a random one per process, with a warning that its hashes join within the process only", async () => {
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino(
    new Writable({
      write(chunk, _encoding, done) {
        logs.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  );
  const first = await loggedHash({ logger });
  expect(first).toMatch(/^[0-9a-f]{16}$/);
  expect(first).not.toBe(createHash("sha256").update(USER).digest("hex").slice(0, 16));
  expect(await loggedHash({ logger })).not.toBe(first);
  expect(logs.filter((l) => l.reason === "ExposureKeyRandom")).toHaveLength(2);
  expect(logs.find((l) => l.reason === "ExposureKeyRandom")).toMatchObject({ level: 40 });
});

it("a key file's key is its bytes without surrounding whitespace, and at least 16 of them", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  expect(exposureKeyOf(bytes("  0123456789abcdef\n"), "key")).toEqual(bytes("0123456789abcdef"));
  expect(() => exposureKeyOf(bytes("short key\n"), "--exposure-key-file /k")).toThrow(
    "--exposure-key-file /k holds 9 bytes; an exposure key needs at least 16",
  );
});
