// A watch whose connection goes silent (half-open: no RST, no data) must not look like "no
// changes" forever. A loopback TCP proxy in front of the real API server freezes the informer's
// established connections; new connections pass, so only the staleness deadline can recover.
import { connect, createServer, type Socket } from "node:net";
import { CoreV1Api, KubeConfig, type V1ConfigMap } from "@kubernetes/client-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Informer } from "../../../src/kube/informer.js";
import { kubeConfig, testNamespace } from "../../support/kube.js";
import { waitFor } from "../../support/wait.js";

let ns: Awaited<ReturnType<typeof testNamespace>>;
const sockets: Socket[] = [];
const frozen = new Set<Socket>();
const proxy = createServer((client) => {
  const admin = new URL(kubeConfig().getCurrentCluster()?.server ?? "");
  const upstream = connect(Number(admin.port), admin.hostname);
  sockets.push(client, upstream);
  // Frozen connections stay open but carry nothing, like a dead NAT entry or a hung peer.
  client.on("data", (chunk) => {
    if (!frozen.has(client)) upstream.write(chunk);
  });
  upstream.on("data", (chunk) => {
    if (!frozen.has(client)) client.write(chunk);
  });
  client.on("error", () => upstream.destroy());
  upstream.on("error", () => client.destroy());
  client.on("close", () => upstream.destroy());
});

beforeAll(async () => {
  ns = await testNamespace("stale");
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => proxy.close(resolve));
  await ns?.remove();
});

it("relists when its watch goes silent, and sees changes made meanwhile", async () => {
  const admin = kubeConfig();
  const viaProxy = new KubeConfig();
  const cluster = admin.getCurrentCluster();
  const port = (proxy.address() as { port: number }).port;
  viaProxy.loadFromOptions({
    clusters: [{ ...cluster, name: "proxy", server: `https://127.0.0.1:${port}` }],
    users: [admin.getCurrentUser()],
    contexts: [{ name: "proxy", cluster: "proxy", user: admin.getCurrentUser()?.name }],
    currentContext: "proxy",
  } as Parameters<KubeConfig["loadFromOptions"]>[0]);
  const api = viaProxy.makeApiClient(CoreV1Api);
  const informer = new Informer<V1ConfigMap>({
    name: "staleness-test",
    kc: viaProxy,
    path: `/api/v1/namespaces/${ns.name}/configmaps`,
    list: async () => {
      const list = await api.listNamespacedConfigMap({ namespace: ns.name });
      return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? "" };
    },
    watchTimeoutSeconds: 300,
    staleAfterMs: 2_000,
  });
  const core = admin.makeApiClient(CoreV1Api);
  informer.start();
  try {
    await waitFor(() => informer.synced, { what: "first list" });
    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: "before" } } });
    await waitFor(() => informer.get(ns.name, "before"), { what: "event on the live watch" });

    // Freeze every connection open now; connections made afterwards pass normally.
    for (const socket of sockets) frozen.add(socket);
    const relistsBefore = informer.relists;
    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: "during" } } });
    await waitFor(() => informer.get(ns.name, "during"), {
      timeoutMs: 10_000,
      what: "the change made while the watch was silent",
    });
    expect(informer.relists).toBeGreaterThan(relistsBefore);
  } finally {
    await informer.stop();
  }
});
