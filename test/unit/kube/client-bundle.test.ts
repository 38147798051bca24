// The build's bundle of @kubernetes/client-node (scripts/bundle.ts): it must export what
// src/kube/client.ts does, work as the client, and leave out the generated API classes nobody uses
// (they are what made the operator's import floor 76 MiB).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleClient } from "../../../scripts/bundle.js";
import * as source from "../../../src/kube/client.js";

describe("client-node bundle", () => {
  let dir: string;
  let outfile: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "flagwright-client-"));
    outfile = join(dir, "client.js");
    await bundleClient(outfile);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("exports the same names as src/kube/client.ts, and they work as the client", async () => {
    const bundled = (await import(pathToFileURL(outfile).href)) as typeof source;
    expect(Object.keys(bundled).sort()).toEqual(Object.keys(source).sort());
    const kc = new bundled.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: "https://127.0.0.1:6443", skipTLSVerify: false }],
      users: [{ name: "u", token: "t0ken" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    const api = kc.makeApiClient(bundled.CustomObjectsApi);
    expect(typeof api.patchNamespacedCustomObjectStatus).toBe("function");
    const options: { headers: Record<string, string> } = { headers: {} };
    await kc.applyToHTTPSOptions(options);
    expect(options.headers.Authorization).toBe("Bearer t0ken");
    expect(bundled.PatchStrategy.ServerSideApply).toBe("application/apply-patch+yaml");
  });

  it("leaves out the API classes the project does not use", async () => {
    const text = await readFile(outfile, "utf8");
    // Checked as booleans: the bundle is megabytes, too long for a failure message.
    expect(text.includes("ObservableCustomObjectsApi")).toBe(true);
    for (const unused of ["ObservableAppsV1Api", "ObservableBatchV1Api", "ObservableStorageV1Api"])
      expect({ unused, found: text.includes(unused) }).toEqual({ unused, found: false });
    // The whole package's generated code is ~21 MB of JavaScript.
    expect(Buffer.byteLength(text)).toBeLessThan(4 * 2 ** 20);
  });
});
