// A loopback TCP proxy in front of an API server that can hold a client's new connections: while
// stalled, a connection is accepted but nothing it sends reaches the server until release(), as
// when a watch's reconnect hangs in the network. Connections already open are untouched, and TLS
// passes through as is. `kubeconfig` is a copy of the server's pointing at the proxy, for a child
// process such as the operator (client-node opens a new connection per request and per watch).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";

export interface ApiProxy {
  kubeconfig: string;
  /** New connections held so far (since stall()). */
  readonly stalled: number;
  stall(): void;
  /** Lets the held connections through to the server, and every later one. */
  release(): void;
  close(): Promise<void>;
}

export async function startApiProxy(kubeconfigPath: string): Promise<ApiProxy> {
  const config = parse(readFileSync(kubeconfigPath, "utf8"));
  const cluster = config.clusters[0].cluster;
  const upstreamUrl = new URL(cluster.server);
  const sockets = new Set<Socket>();
  let held: Socket[] | undefined;
  const forward = (client: Socket) => {
    const upstream = connect(Number(upstreamUrl.port), upstreamUrl.hostname);
    sockets.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on("error", drop);
      socket.on("close", drop);
    }
  };
  const server = createServer((client) => {
    sockets.add(client);
    if (held) {
      // Paused: what the client sends stays in its buffer until release().
      client.pause();
      client.on("error", () => client.destroy());
      held.push(client);
    } else forward(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), "flagwright-proxy-"));
  const kubeconfig = join(dir, "kubeconfig");
  // The serving certificate names 127.0.0.1, which the proxy shares.
  cluster.server = `https://127.0.0.1:${port}`;
  writeFileSync(kubeconfig, stringify(config));
  return {
    kubeconfig,
    get stalled() {
      return held?.length ?? 0;
    },
    stall() {
      held ??= [];
    },
    release() {
      const waiting = held ?? [];
      held = undefined;
      for (const client of waiting) if (!client.destroyed) forward(client);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
