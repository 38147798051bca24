// The one HTTPS server of the operator's admission webhooks: TLS only, `GET /healthz`, and one
// POST route per webhook taking an AdmissionReview as application/json with a bounded body. The
// serving certificate can be swapped without a restart.
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";

/**
 * Largest AdmissionReview accepted: 1.5 MiB, etcd's default request limit, so the review of any
 * object the API server can store fits (an UPDATE's review also carries the old object: past this
 * size the webhook's failurePolicy decides). A larger body is refused before it is buffered or
 * parsed, which would otherwise hold the event loop the operator's leases and probes share.
 */
export const MAX_ADMISSION_BODY = 1.5 * 1024 * 1024;

/**
 * Body bytes all requests in flight may hold at once (about ten maximal reviews): many
 * connections each sending a body just under the cap must not outgrow the operator's memory. A
 * request past it gets 503; the API server then applies the webhook's failurePolicy.
 */
export const MAX_ADMISSION_BYTES_IN_FLIGHT = 16 * 1024 * 1024;

export interface AdmissionServer {
  address: AddressInfo;
  /** Swaps the serving certificate without a restart. */
  setCertificate(cert: { cert: string; key: string }): void;
  /** Body bytes held by the requests in flight (against MAX_ADMISSION_BYTES_IN_FLIGHT). */
  readonly bytesInFlight: number;
  stop(): Promise<void>;
}

/**
 * Answers a parsed request body with the AdmissionReview to send (or a promise of it, for work
 * done in slices); a throw or rejection is answered 400.
 */
export type AdmissionHandler = (body: unknown) => unknown;

export async function startAdmissionServer(options: {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  /** POST path (for example "/inject") → its handler. */
  routes: Record<string, AdmissionHandler>;
  log?: Logger;
  /** Default MAX_ADMISSION_BYTES_IN_FLIGHT. */
  maxBytesInFlight?: number;
}): Promise<AdmissionServer> {
  const routes = new Map(Object.entries(options.routes));
  const budget = { held: 0, max: options.maxBytesInFlight ?? MAX_ADMISSION_BYTES_IN_FLIGHT };
  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (req.method === "GET" && path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    const handler = routes.get(path);
    if (req.method !== "POST" || !handler) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    serveReview(req, res, handler, budget, options.log);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    setCertificate: (tls) => server.setSecureContext({ cert: tls.cert, key: tls.key }),
    get bytesInFlight() {
      return budget.held;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Body bytes held by all requests in flight, against their cap. */
interface ByteBudget {
  held: number;
  max: number;
}

/**
 * Reads one AdmissionReview within the size caps and answers it with the route's handler.
 * Refusals come before reading or parsing the body; "connection: close" drops the rest of it.
 */
function serveReview(
  req: IncomingMessage,
  res: ServerResponse,
  handler: AdmissionHandler,
  budget: ByteBudget,
  log: Logger | undefined,
): void {
  const refuse = (status: number, message: string) => {
    log?.warn({ reason: "AdmissionRequestRefused", status, err: message }, "admission request refused");
    req.removeAllListeners("data");
    res.writeHead(status, { "content-type": "text/plain", connection: "close" }).end(`${message}\n`);
  };
  const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (contentType !== "application/json") {
    refuse(415, "an AdmissionReview must be sent as application/json");
    return;
  }
  if (Number(req.headers["content-length"]) > MAX_ADMISSION_BODY) {
    refuse(413, `request body exceeds ${MAX_ADMISSION_BODY} bytes`);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const release = () => {
    budget.held -= size;
    size = 0;
    chunks.length = 0;
  };
  res.on("close", release);
  req.on("data", (chunk: Buffer) => {
    if (size + chunk.length > MAX_ADMISSION_BODY) {
      refuse(413, `request body exceeds ${MAX_ADMISSION_BODY} bytes`);
      release();
      return;
    }
    if (budget.held + chunk.length > budget.max) {
      refuse(503, "too many admission request bytes in flight; retry");
      release();
      return;
    }
    size += chunk.length;
    budget.held += chunk.length;
    chunks.push(chunk);
  });
  req.on("end", async () => {
    if (res.headersSent) return;
    try {
      const answer = await handler(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
    } catch (error) {
      log?.warn({ reason: "BadAdmissionReview", err: (error as Error).message }, "bad admission request");
      res.writeHead(400, { "content-type": "text/plain" }).end(`${(error as Error).message}\n`);
    }
  });
}
