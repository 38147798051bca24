// A loopback TCP proxy in front of a real server (e.g. the API server, TLS passing through) that
// can be frozen: from then on nothing passes either way and new connections are held open
// without an answer, as when a node is cut off by a network partition (requests hang, they do
// not fail fast).

import type { AddressInfo } from "node:net";
import { connect, createServer, type Socket } from "node:net";

export interface TcpProxy {
  /** host:port to dial instead of the upstream. */
  address: string;
  freeze(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(upstream: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const pairs: [Socket, Socket][] = [];
  let frozen = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
  };
  const server = createServer((client) => {
    track(client);
    if (frozen) return;
    const server = connect(upstream.port, upstream.host);
    track(server);
    client.pipe(server);
    server.pipe(client);
    client.on("close", () => server.destroy());
    server.on("close", () => client.destroy());
    pairs.push([client, server]);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    freeze() {
      frozen = true;
      for (const [client, upstreamSocket] of pairs.splice(0)) {
        client.unpipe(upstreamSocket);
        upstreamSocket.unpipe(client);
        client.pause();
        upstreamSocket.pause();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
