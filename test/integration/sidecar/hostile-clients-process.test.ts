// The sidecar CLI as a process under hostile clients, with its limits set by option: a header that
// never finishes is closed within --headers-timeout, connections beyond --max-connections are
// closed at once while held ones keep being served, and the exposure log hashes users under the
// key of --exposure-key-file. Bad limit or key options stop it with an error naming the option.
import { createHmac } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { sidecarLogged, spawnSidecarProcess } from "../../support/processes.js";
import { waitFor } from "../../support/wait.js";
import { makeDocument, tempDir } from "../../unit/sidecar/helpers.js";

let dir: Awaited<ReturnType<typeof tempDir>>;
let documentFile: string;
const children: ReturnType<typeof spawnSidecarProcess>[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  dir = await tempDir();
  documentFile = join(dir.path, "flags.json");
  await writeFile(documentFile, JSON.stringify(makeDocument({ checkout: { percent: 100 } })));
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(children.map((child) => child.stop("SIGKILL")));
  await dir?.remove();
});

/** The sidecar on `documentFile` with `args`, killed after the tests. */
function sidecarProcess(args: string[]) {
  const proc = spawnSidecarProcess(["--file", documentFile, ...args]);
  children.push(proc);
  return proc;
}

/** Its URL once it serves its first document. */
async function ready(proc: ReturnType<typeof sidecarProcess>): Promise<string> {
  const listening = await proc.waitForLog(sidecarLogged("Listening"), "the sidecar to listen");
  await proc.waitForLog(sidecarLogged("DocumentLoaded"), "the first document");
  return String(listening.url);
}

function rawClient(url: string) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  sockets.push(socket);
  const state = { received: "", closedAt: undefined as number | undefined };
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    state.received += chunk;
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    state.closedAt = Date.now();
  });
  const connected = new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  return { socket, state, connected };
}

const HEALTHZ = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";

it("holds its connection cap and headers timeout; hashes users under the key file's key", {
  timeout: 60_000,
}, async () => {
  const key = "a key shared by every sidecar of this install";
  const keyFile = join(dir.path, "exposure-key");
  await writeFile(keyFile, `${key}\n`);
  const exposureLog = join(dir.path, "exposures.jsonl");
  const sidecar = sidecarProcess([
    "--max-connections=2",
    "--headers-timeout=300",
    "--request-timeout=400",
    `--exposure-log=${exposureLog}`,
    `--exposure-key-file=${keyFile}`,
  ]);
  const url = await ready(sidecar);

  // A header that never finishes: 408 and closed within the timeout (plus Node's check interval).
  const slow = rawClient(url);
  await slow.connected;
  const started = Date.now();
  slow.socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ");
  await waitFor(() => slow.state.closedAt, { timeoutMs: 5000, what: "the slow client closed" });
  expect((slow.state.closedAt as number) - started).toBeLessThan(3000);
  expect(slow.state.received).toMatch(/^HTTP\/1\.1 408/);

  // Two connections held; a third is closed unanswered; the two keep being served.
  const held = [rawClient(url), rawClient(url)];
  for (const client of held) {
    await client.connected;
    client.socket.write(HEALTHZ);
    await waitFor(() => client.state.received.includes('"ok"'), { what: "a held connection served" });
  }
  const refused = rawClient(url);
  await waitFor(() => refused.state.closedAt, { timeoutMs: 5000, what: "the third connection closed" });
  expect(refused.state.received).toBe("");
  await waitFor(() => sidecar.logs.find(sidecarLogged("ConnectionsDropped")), {
    what: "the drop logged",
  });
  const evaluation = [
    "POST /ofrep/v1/evaluate/flags/checkout HTTP/1.1",
    "Host: localhost",
    "Content-Type: application/json",
    "Content-Length: 43",
    "",
    '{"context":{"targetingKey":"alice@x.test"}}',
  ].join("\r\n");
  const client = held[0] as (typeof held)[number];
  const before = client.state.received.length;
  client.socket.write(evaluation);
  await waitFor(() => client.state.received.slice(before).includes('"value":true'), {
    what: "evaluation served",
  });
  expect(held.every((c) => c.state.closedAt === undefined)).toBe(true);

  for (const c of held) c.socket.destroy();
  sidecar.child.kill("SIGTERM");
  expect(await sidecar.exited).toBe(0);
  const event = JSON.parse((await readFile(exposureLog, "utf8")).trim()) as { user: string };
  expect(event.user).toBe(createHmac("sha256", key).update("alice@x.test").digest("hex").slice(0, 16));
  expect(sidecar.logs.some(sidecarLogged("ExposureKeyRandom"))).toBe(false);
});

it("refuses a short exposure key and a headers timeout longer than the request timeout", {
  timeout: 60_000,
}, async () => {
  const shortKey = join(dir.path, "short-key");
  await writeFile(shortKey, "abc\n");
  const short = sidecarProcess(["--exposure-log=-", `--exposure-key-file=${shortKey}`]);
  expect(await short.exited).not.toBe(0);
  expect(short.stderr()).toContain(
    `--exposure-key-file ${shortKey} holds 3 bytes; an exposure key needs at least 16`,
  );
  const timeouts = sidecarProcess(["--headers-timeout=5000", "--request-timeout=1000"]);
  expect(await timeouts.exited).not.toBe(0);
  expect(timeouts.stderr()).toContain("--headers-timeout (5000) must not exceed --request-timeout (1000)");
});
