// The bundled sidecar (one file of its own, scripts/bundle.ts) in API-watch mode with a bearer
// token, against the real local control plane: the modules it loads on first use (the token check,
// the ConfigMap source, the Kubernetes client behind it) are separate files of the CLI's build,
// which this is the only test to load the way the container does.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { type OfrepServerProcess, startOfrepServer } from "../../../bench/flagd/process.js";
import { buildSidecar } from "../../../bench/sidecar-vs-flagd.bench.js";
import { DEFAULT_CONFIGMAP_NAME, DOCUMENT_KEY } from "../../../src/core/index.js";
import { SIDECAR_NODE_OPTIONS } from "../../../src/operator/injection/mutation.js";
import { clients, testNamespace } from "../../support/kube.js";
import { makeDocument } from "../../unit/sidecar/helpers.js";

const TOKEN = "bundled-watch-token";
let sidecarBuild: ReturnType<typeof buildSidecar>;
let ns: Awaited<ReturnType<typeof testNamespace>>;
let server: OfrepServerProcess;
const dir = mkdtempSync(join(tmpdir(), "flagwright-bundled-watch-"));

beforeAll(async () => {
  sidecarBuild = buildSidecar();
  ns = await testNamespace("bundled-watch");
  await clients().core.createNamespacedConfigMap({
    namespace: ns.name,
    body: {
      metadata: { name: DEFAULT_CONFIGMAP_NAME },
      data: { [DOCUMENT_KEY]: JSON.stringify(makeDocument({ checkout: { percent: 100 } })) },
    },
  });
  writeFileSync(join(dir, "token"), TOKEN);
  server = await startOfrepServer(process.execPath, [
    ...SIDECAR_NODE_OPTIONS,
    sidecarBuild.main,
    "sidecar",
    "--configmap",
    `${ns.name}/${DEFAULT_CONFIGMAP_NAME}`,
    "--kubeconfig",
    inject("kubeconfig"),
    "--auth-token-file",
    join(dir, "token"),
    "--listen",
    "127.0.0.1:0",
  ]);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await ns?.remove();
  sidecarBuild?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const evaluate = (headers: Record<string, string>) =>
  fetch(`${server.url}/ofrep/v1/evaluate/flags/checkout`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ context: { targetingKey: "user-1" } }),
  });

it("serves the watched ConfigMap's flags to a caller with the token, and 401 without it", async () => {
  const authorized = await evaluate({ authorization: `Bearer ${TOKEN}` });
  expect(authorized.status).toBe(200);
  expect(await authorized.json()).toMatchObject({ key: "checkout", value: true });
  expect((await evaluate({})).status).toBe(401);
});
