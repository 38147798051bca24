// The sidecar CLI as a process: structured JSON logs, serving, and exit 0 on SIGTERM.
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { makeDocument, tempDir } from "../../unit/sidecar/helpers.js";

let dir: Awaited<ReturnType<typeof tempDir>>;
let good: string;
beforeAll(async () => {
  dir = await tempDir();
  good = join(dir.path, "flags.json");
  await writeFile(
    good,
    JSON.stringify(makeDocument({ "new-checkout": { percent: 50, allowedUsers: ["vip"] } })),
  );
});
afterAll(async () => {
  await dir?.remove();
});

it("flagwright sidecar serves, then exits 0 on SIGTERM", { timeout: 30_000 }, async () => {
  const root = fileURLToPath(new URL("../../..", import.meta.url));
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/cli/main.ts", "sidecar", "--file", good, "--listen", "127.0.0.1:0"],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const events: Array<Record<string, unknown>> = [];
  let url = "";
  for await (const line of createInterface({ input: child.stdout })) {
    const event = JSON.parse(line) as Record<string, unknown>;
    events.push(event);
    if (event.event === "listening") url = String(event.url);
    if (event.event === "document_loaded") break;
  }
  const res = await fetch(`${url}/ofrep/v1/evaluate/flags/new-checkout`, {
    method: "POST",
    body: JSON.stringify({ context: { targetingKey: "vip" } }),
  });
  expect(await res.json()).toMatchObject({ value: true });
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
  expect(events[0]).toMatchObject({ component: "sidecar", event: "listening" });
});
