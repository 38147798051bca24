// The shared evaluator's bearer token: OFREP routes (evaluations, event stream, configuration)
// and /track answer 401 without `Authorization: Bearer <token>`; probes and /metrics stay open.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Sidecar } from "../../../src/sidecar/index.js";
import { openSse } from "../../support/sse.js";
import { makeDocument, post, startTestSidecar, tempDir } from "./helpers.js";

let sidecar: Sidecar;
let dir: Awaited<ReturnType<typeof tempDir>>;
const TOKEN = "s3cret-token";
beforeAll(async () => {
  dir = await tempDir();
  const file = join(dir.path, "flags.json");
  await writeFile(file, JSON.stringify(makeDocument({ everyone: { percent: 100 } })));
  sidecar = await startTestSidecar({ source: { kind: "file", path: file }, authToken: TOKEN });
});
afterAll(async () => {
  await sidecar?.close();
  await dir?.remove();
});

it("401 with WWW-Authenticate on every OFREP route without the right token", async () => {
  const routes = [
    () => post(`${sidecar.url}/ofrep/v1/evaluate/flags/everyone`, {}),
    () => post(`${sidecar.url}/ofrep/v1/evaluate/flags`, {}),
    () => post(`${sidecar.url}/ofrep/v1/evaluate/flags`, {}, { authorization: "Bearer wrong" }),
    () => post(`${sidecar.url}/ofrep/v1/evaluate/flags`, {}, { authorization: TOKEN }),
    () => post(`${sidecar.url}/track`, {}),
  ];
  for (const call of routes) {
    const r = await call();
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(String(r.json?.errorDetails)).toContain("bearer token");
  }
  expect((await fetch(`${sidecar.url}/ofrep/v1/configuration`)).status).toBe(401);
  const stream = await openSse(`${sidecar.url}/ofrep/v1/events`);
  stream.close();
  expect(stream.status).toBe(401);
});

it("serves with the token; probes and metrics need none", async () => {
  const auth = { authorization: `Bearer ${TOKEN}` };
  expect((await post(`${sidecar.url}/ofrep/v1/evaluate/flags/everyone`, {}, auth)).json).toMatchObject({
    value: true,
  });
  expect((await post(`${sidecar.url}/ofrep/v1/evaluate/flags`, {}, auth)).status).toBe(200);
  const stream = await openSse(`${sidecar.url}/ofrep/v1/events`, auth);
  stream.close();
  expect(stream.status).toBe(200);
  for (const path of ["/healthz", "/readyz", "/metrics"]) {
    expect((await fetch(`${sidecar.url}${path}`)).status, path).toBe(200);
  }
});

it("the scheme is case-insensitive (RFC 7235), the token is not", async () => {
  const url = `${sidecar.url}/ofrep/v1/evaluate/flags/everyone`;
  for (const authorization of [`bearer ${TOKEN}`, `BEARER ${TOKEN}`, `bEaReR  ${TOKEN}`]) {
    expect((await post(url, {}, { authorization })).status, authorization).toBe(200);
  }
  for (const authorization of [
    `Bearer ${TOKEN.toUpperCase()}`,
    `Bearer ${TOKEN}x`,
    `Bearer${TOKEN}`,
    `Basic ${TOKEN}`,
    "Bearer ",
    "bearer",
  ]) {
    expect((await post(url, {}, { authorization })).status, authorization).toBe(401);
  }
});
