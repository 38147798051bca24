// What the sidecar exposes, as a real `flagwright sidecar` process: by default it binds loopback
// only, so a connection to the machine's own non-loopback address is refused (only containers
// of the pod reach it); an explicit --listen 0.0.0.0:PORT opens it. And no route gives out the
// flag document or its definitions (allow-listed user IDs, percentages): OFREP answers evaluated
// values for one context only.

import { writeFile } from "node:fs/promises";
import { request } from "node:http";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeDocument, tempDir } from "../../support/flag-documents.js";
import { spawnFlagwright } from "../../support/flagwright-process.js";
import { startFileSidecarProcess } from "../../support/processes.js";

// Allow-listed user IDs are what the document holds that callers must not learn.
const ALLOWED = ["vip-alice-7f3a", "vip-bob-91c2"];
const document = makeDocument({
  "new-checkout": { percent: 37, allowedUsers: ALLOWED },
  "dark-mode": { percent: 100, allowedUsers: [] },
});

let dir: Awaited<ReturnType<typeof tempDir>>;
let file: string;

/** The first non-loopback IPv4 address of this machine (the pod IP, in a pod). */
function externalAddress(): string {
  const found = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === "IPv4" && !a.internal);
  if (!found) throw new Error("this machine has no non-loopback IPv4 address to test the bind against");
  return found.address;
}

/** `flagwright sidecar --file ... --listen LISTEN`; resolves once the document is loaded. */
async function startSidecar(listen: string) {
  const proc = await startFileSidecarProcess(file, [], { listen, loaded: true });
  const port = Number(new URL(proc.url).port);
  return { port, url: proc.url, stop: () => proc.stop() };
}

/** GET /healthz at host:port: "HTTP <status>" or "error <code>" when the connection fails. */
function probe(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: "/healthz", method: "GET" }, (res) => {
      res.resume();
      resolve(`HTTP ${res.statusCode}`);
    });
    req.on("error", (error) => resolve(`error ${(error as NodeJS.ErrnoException).code}`));
    req.end();
  });
}

beforeAll(async () => {
  dir = await tempDir();
  file = join(dir.path, "flags.json");
  await writeFile(file, JSON.stringify(document));
});
afterAll(async () => {
  await dir?.remove();
});

describe("sidecar network exposure", () => {
  it("binds loopback when --listen names only a port: the machine's own address is refused", async () => {
    const sidecar = await startSidecar(":0");
    try {
      expect(new URL(sidecar.url).hostname).toBe("127.0.0.1");
      expect(await probe("127.0.0.1", sidecar.port)).toBe("HTTP 200");
      expect(await probe(externalAddress(), sidecar.port)).toBe("error ECONNREFUSED");
    } finally {
      await sidecar.stop();
    }
  });

  it("defaults to 127.0.0.1:8016 (flagwright sidecar --help)", async () => {
    const help = spawnFlagwright(["sidecar", "--help"]);
    await help.exited;
    const text = help.logs.map((l) => String(l.msg)).join("\n");
    expect(text).toMatch(/--listen <host:port>[\s\S]*default:\s+"127\.0\.0\.1:8016"/);
  });

  it("accepts connections on other addresses only with an explicit --listen 0.0.0.0:PORT", async () => {
    const sidecar = await startSidecar("0.0.0.0:0");
    try {
      expect(await probe(externalAddress(), sidecar.port)).toBe("HTTP 200");
    } finally {
      await sidecar.stop();
    }
  });
});

describe("sidecar routes give out evaluations, never the document", () => {
  let sidecar: Awaited<ReturnType<typeof startSidecar>>;
  beforeAll(async () => {
    sidecar = await startSidecar("127.0.0.1:0");
  });
  afterAll(() => sidecar?.stop());

  // Every route of src/sidecar/http.ts, plus paths where a debug dump would usually live.
  const routes: [string, string, string?][] = [
    ["POST", "/ofrep/v1/evaluate/flags/new-checkout", '{"context":{"targetingKey":"someone"}}'],
    ["POST", "/ofrep/v1/evaluate/flags", '{"context":{"targetingKey":"someone"}}'],
    ["POST", "/ofrep/v1/evaluate/flags", "{}"],
    ["GET", "/ofrep/v1/configuration"],
    ["GET", "/healthz"],
    ["GET", "/readyz"],
    ["GET", "/metrics"],
    ["POST", "/track", '{"flag":"new-checkout","targetingKey":"someone","event":"buy"}'],
    ...[
      "/",
      "/flags",
      "/document",
      "/debug",
      "/debug/document",
      "/config",
      "/ofrep/v1/flags",
      "/flags.json",
    ].map((path): [string, string] => ["GET", path]),
  ];

  it.each(routes)(
    "%s %s answers without allow-listed users, percentages or the document",
    async (method, path, body) => {
      const res = await fetch(`${sidecar.url}${path}`, {
        method,
        ...(body !== undefined && { body, headers: { "content-type": "application/json" } }),
      });
      const text = await res.text();
      for (const user of ALLOWED) expect(text).not.toContain(user);
      expect(text).not.toMatch(/allowedUsers|"percent"\s*:/);
      expect(text).not.toContain(JSON.stringify(document).slice(0, 40));
    },
  );

  it("the bulk evaluation holds one evaluated answer per flag: key, value, reason, variant, metadata", async () => {
    const res = await fetch(`${sidecar.url}/ofrep/v1/evaluate/flags`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ context: { targetingKey: "someone" } }),
    });
    const { flags } = (await res.json()) as { flags: Record<string, unknown>[] };
    expect(flags.map((f) => f.key).sort()).toEqual(["dark-mode", "new-checkout"]);
    for (const f of flags) {
      expect(Object.keys(f).every((k) => ["key", "value", "reason", "variant", "metadata"].includes(k))).toBe(
        true,
      );
    }
  });
});
