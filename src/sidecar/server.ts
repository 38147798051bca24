// The sidecar's node:http server: connection limits and timeouts, listening, and the log of
// connections dropped over the cap.
import { createServer, type RequestListener, type Server, type ServerOptions } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";

/** How many connections the server holds and how long a client may take to send a request. */
export interface ConnectionLimits {
  /** Open connections beyond which a new one is closed as soon as it is accepted. */
  maxConnections: number;
  /** Time a client has to send a request's headers (408 and closed after). */
  headersTimeoutMs: number;
  /**
   * Time a client has to send a whole request, headers and body. Node counts only the receiving
   * of the request, so an event stream (a GET, complete with its headers) outlives it.
   */
  requestTimeoutMs: number;
  /** Idle time after which a kept-alive connection is closed. */
  keepAliveTimeoutMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 4096,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  // Longer than the 60 s idle timeout of common proxies and clients' pools, so the client side
  // closes first and never sends a request on a connection this side is closing.
  keepAliveTimeoutMs: 65_000,
};

/** node:http server options enforcing `limits`. */
export function serverOptions(limits: ConnectionLimits): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node checks both timeouts on this interval (30 s by default, which would let a header that
    // never finishes hold its connection for up to 35 s instead of 5).
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
  };
}

/** A server enforcing `limits` and logging the connections it drops over the cap. */
export function limitedServer(limits: ConnectionLimits, handler: RequestListener, log: Logger): Server {
  const server = createServer(serverOptions(limits), handler);
  server.maxConnections = limits.maxConnections;
  logDroppedConnections(server, limits.maxConnections, log);
  return server;
}

/** Logs connections closed over the cap: the first at once, then a count at most once a minute. */
function logDroppedConnections(server: Server, maxConnections: number, log: Logger): void {
  let dropped = 0;
  let window: NodeJS.Timeout | undefined;
  const report = () => {
    log.warn(
      { reason: "ConnectionsDropped", dropped, maxConnections },
      "closed new connections: the server holds its maximum",
    );
    dropped = 0;
  };
  server.on("drop", () => {
    dropped += 1;
    if (window !== undefined) return;
    report();
    window = setTimeout(() => {
      window = undefined;
      if (dropped > 0) report();
    }, 60_000);
    window.unref();
  });
}

/** Listens on `host`:`port` (0: a free one); the address and the base URL it is reached at. */
export async function listen(
  server: Server,
  port: number,
  host: string,
): Promise<{ address: AddressInfo; url: string }> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return { address, url: `http://${shown}:${address.port}` };
}
