// The sidecar CLI as a process: structured JSON logs, serving, and exit 0 on SIGTERM.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startFileSidecarProcess } from "../../support/processes.js";
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
  const sidecar = await startFileSidecarProcess(good, [], { loaded: true });
  const res = await fetch(`${sidecar.url}/ofrep/v1/evaluate/flags/new-checkout`, {
    method: "POST",
    body: JSON.stringify({ context: { targetingKey: "vip" } }),
  });
  expect(await res.json()).toMatchObject({ value: true });
  sidecar.child.kill("SIGTERM");
  expect(await sidecar.exited).toBe(0);
  expect(sidecar.logs[0]).toMatchObject({ component: "sidecar", reason: "Listening" });
});
