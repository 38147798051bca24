// The bundled client (scripts/bundle.ts) on a keep-alive agent whose pooled sockets carry a `data`
// listener, as agents do on Nodes with the guard against response-queue poisoning (Debian's Node 20
// in the image, Node 22.23+, 24.17+): chunked answers, which the API server sends for anything over
// 4 KiB, are read in full on every reused connection, and a body really cut short still fails.
import { mkdtemp, rm } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleClient } from "../../../scripts/bundle.js";
import type * as source from "../../../src/kube/client.js";
import { generateCertificates } from "../../../src/operator/injection/certificates.js";

/** Stands in for the Node guard: a pooled socket that receives data is destroyed. */
function destroyOnIdleData(this: import("node:net").Socket) {
  this.destroy();
}

/** An agent that keeps sockets alive and guards them while pooled, as the guarded Nodes' agents do. */
class GuardedAgent extends https.Agent {
  constructor(options: https.AgentOptions) {
    super({ ...options, keepAlive: true });
    this.on("free", (socket) => {
      if (!socket.destroyed) socket.on("data", destroyOnIdleData);
    });
  }
  override reuseSocket(socket: import("node:net").Socket, request: import("node:http").ClientRequest): void {
    socket.removeListener("data", destroyOnIdleData);
    super.reuseSocket(socket, request);
  }
}

describe("bundled client on a guarded keep-alive agent", () => {
  let dir: string;
  let bundled: typeof source;
  let server: https.Server;
  let agent: GuardedAgent;
  let kc: InstanceType<typeof source.KubeConfig>;
  const certs = generateCertificates({ ipAddresses: ["127.0.0.1"] });
  // Over 4 KiB, written without a length in one go: chunked, with the terminating chunk in the same
  // packet, as the API server sends it.
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "webhook-tls" },
    data: { pad: "x".repeat(6000) },
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "flagwright-client-keepalive-"));
    const outfile = join(dir, "client.js");
    await bundleClient(outfile);
    bundled = (await import(pathToFileURL(outfile).href)) as typeof source;
    server = https.createServer({ cert: certs.cert, key: certs.key }, (req, res) => {
      const body = JSON.stringify(secret);
      res.writeHead(200, { "content-type": "application/json" });
      res.write(body.slice(0, 3000));
      if (req.url?.includes("/secrets/cut-short")) {
        // Headers and part of the body, then the connection ends without the terminating chunk.
        setImmediate(() => res.socket?.destroy());
        return;
      }
      res.end(body.slice(3000));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    agent = new GuardedAgent({ ca: certs.caCert });
    class GuardedKubeConfig extends bundled.KubeConfig {
      override async applySecurityAuthentication(
        context: Parameters<source.KubeConfig["applySecurityAuthentication"]>[0],
      ) {
        await super.applySecurityAuthentication(context);
        context.setAgent(agent);
      }
    }
    kc = new GuardedKubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: "c",
          server: `https://127.0.0.1:${port}`,
          caData: Buffer.from(certs.caCert).toString("base64"),
        },
      ],
      users: [{ name: "u", token: "t0ken" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
  }, 120_000); // esbuild bundles client-node first
  afterAll(async () => {
    agent?.destroy();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it("reads chunked answers in full on reused connections", async () => {
    const core = kc.makeApiClient(bundled.CoreV1Api);
    const results: string[] = [];
    for (let i = 0; i < 5; i++) {
      const read = await core.readNamespacedSecret({ name: "webhook-tls", namespace: "ns" }).then(
        (s) => `${s.metadata?.name} ${s.data?.pad?.length}`,
        (error: Error) => error.message,
      );
      results.push(read);
    }
    expect(results).toEqual(Array(5).fill("webhook-tls 6000"));
  });

  it("still fails an answer cut short", async () => {
    const core = kc.makeApiClient(bundled.CoreV1Api);
    await expect(core.readNamespacedSecret({ name: "cut-short", namespace: "ns" })).rejects.toThrow(
      /Invalid response body/,
    );
  });
});
