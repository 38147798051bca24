// A loopback HTTP proxy that misbehaves on demand, for putting in front of a real server (e.g.
// Prometheus): HTTP errors, answers slower than the client's deadline, truncated or non-envelope
// bodies, dropped connections, and rewritten JSON answers. GET only, which is all the Prometheus
// API client sends.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Fault =
  | { kind: "none" }
  /** Answer `status` with `body` (and content type) instead of forwarding. */
  | { kind: "status"; status: number; body: string; contentType?: string }
  /** Forward, but only after `ms`. */
  | { kind: "delay"; ms: number }
  /** Forward, then cut the body to its first half. */
  | { kind: "truncate" }
  /** Close the connection without answering. */
  | { kind: "reset" };

export interface FaultProxy {
  url: string;
  /** The fault applied to every request from now on. */
  fault: Fault;
  /** Rewrites upstream JSON answers by path (applied when no fault is set). */
  rewrite: Map<string, (body: Record<string, unknown>) => unknown>;
  /** Requests seen, by path. */
  readonly requests: Map<string, number>;
  close(): Promise<void>;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const pending = new Set<NodeJS.Timeout>();
  const proxy: Omit<FaultProxy, "url" | "close"> = {
    fault: { kind: "none" },
    rewrite: new Map(),
    requests: new Map(),
  };

  async function forward(req: IncomingMessage): Promise<{ status: number; type: string; body: string }> {
    const res = await fetch(upstream + (req.url ?? "/"), { headers: { accept: "application/json" } });
    let body = await res.text();
    const path = (req.url ?? "/").split("?")[0] as string;
    const rewrite = proxy.rewrite.get(path);
    if (rewrite && res.ok) body = JSON.stringify(rewrite(JSON.parse(body)));
    return { status: res.status, type: res.headers.get("content-type") ?? "application/json", body };
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? "/").split("?")[0] as string;
    proxy.requests.set(path, (proxy.requests.get(path) ?? 0) + 1);
    const fault = proxy.fault;
    switch (fault.kind) {
      case "status":
        res.writeHead(fault.status, { "content-type": fault.contentType ?? "application/json" });
        res.end(fault.body);
        return;
      case "reset":
        req.socket.destroy();
        return;
      case "delay":
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            pending.delete(timer);
            resolve();
          }, fault.ms);
          pending.add(timer);
        });
        if (res.destroyed) return;
        break;
      default:
        break;
    }
    const answer = await forward(req);
    const body =
      fault.kind === "truncate" ? answer.body.slice(0, Math.floor(answer.body.length / 2)) : answer.body;
    if (res.destroyed) return;
    res.writeHead(answer.status, { "content-type": answer.type });
    res.end(body);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: Error) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`fault proxy: ${error.message}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(proxy, {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const timer of pending) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
