// API requests reuse keep-alive TLS connections (src/kube/pooled-kubeconfig.ts): client-node alone
// opens a new connection, with a new TLS context, for every request.
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomObjectsApi, KubeConfig } from "../../../src/kube/client.js";
import { PooledKubeConfig, sameTls } from "../../../src/kube/pooled-kubeconfig.js";
import { generateCertificates } from "../../../src/operator/injection/certificates.js";

describe("PooledKubeConfig", () => {
  const certs = generateCertificates({ ipAddresses: ["127.0.0.1"] });
  let server: Server;
  let connections = 0;
  const authorizations: (string | undefined)[] = [];

  beforeAll(async () => {
    server = createServer({ cert: certs.cert, key: certs.key }, (req, res) => {
      authorizations.push(req.headers.authorization);
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          apiVersion: "flagwright.dev/v1alpha1",
          kind: "FeatureFlag",
          metadata: { name: "a" },
        }),
      );
    });
    server.on("secureConnection", () => connections++);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function load<T extends KubeConfig>(kc: T): T {
    kc.loadFromOptions({
      clusters: [
        {
          name: "c",
          server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
          caData: Buffer.from(certs.caCert).toString("base64"),
          skipTLSVerify: false,
        },
      ],
      users: [{ name: "u", token: "t0ken" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    return kc;
  }

  async function requests(kc: KubeConfig, count: number): Promise<number> {
    const api = kc.makeApiClient(CustomObjectsApi);
    const before = connections;
    for (let i = 0; i < count; i++) {
      const flag = await api.getNamespacedCustomObject({
        group: "flagwright.dev",
        version: "v1alpha1",
        namespace: "team",
        plural: "featureflags",
        name: "a",
      });
      expect(flag.metadata.name).toBe("a");
    }
    return connections - before;
  }

  it("sends every request over one kept-alive connection, with the kubeconfig's credentials", async () => {
    authorizations.length = 0;
    expect(await requests(load(new PooledKubeConfig()), 10)).toBe(1);
    expect(authorizations).toEqual(Array(10).fill("Bearer t0ken"));
  });

  it("(client-node's own KubeConfig opens one connection per request)", async () => {
    expect(await requests(load(new KubeConfig()), 5)).toBe(5);
  });

  it("compares TLS material by content: a rotated CA or another server name gets a new agent", () => {
    const ca = Buffer.from("ca-1");
    expect(
      sameTls({ ca, rejectUnauthorized: true }, { ca: Buffer.from("ca-1"), rejectUnauthorized: true }),
    ).toBe(true);
    expect(sameTls({ ca }, { ca: Buffer.from("ca-2") })).toBe(false);
    expect(sameTls({ ca, servername: "a" }, { ca, servername: "b" })).toBe(false);
    expect(sameTls({ ca }, {})).toBe(false);
  });
});
