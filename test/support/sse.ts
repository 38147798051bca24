// A minimal Server-Sent Events reader for tests: opens a GET with node:http, parses the W3C event
// format (id, event, data, retry, comment lines) and lets a test await the next event.
import { type ClientRequest, type IncomingMessage, request } from "node:http";
import { waitFor } from "./wait.js";

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

export interface SseStream {
  readonly status: number;
  readonly headers: IncomingMessage["headers"];
  /** Events received so far, in order. */
  readonly events: SseEvent[];
  /** Comment lines (": ...") received so far. */
  readonly comments: string[];
  retry?: number;
  /** Body of a non-200 answer. */
  readonly body: string;
  /** Resolves with event number `index` (0-based) once it has arrived. */
  event(index: number, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    let req: ClientRequest | undefined;
    req = request(url, { headers: { accept: "text/event-stream", ...headers } }, (res) => {
      const events: SseEvent[] = [];
      const comments: string[] = [];
      let buffer = "";
      let body = "";
      let pending: SseEvent = { data: "" };
      let hasData = false;
      const stream: SseStream = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        comments,
        get body() {
          return body;
        },
        event: (index, timeoutMs = 5000) =>
          waitFor(() => events[index], { timeoutMs, intervalMs: 5, what: `SSE event #${index}` }),
        close: () => req?.destroy(),
      };
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (stream.status !== 200) {
          body += chunk;
          return;
        }
        buffer += chunk;
        let nl = buffer.indexOf("\n");
        while (nl !== -1) {
          const line = buffer.slice(0, nl).replace(/\r$/, "");
          buffer = buffer.slice(nl + 1);
          nl = buffer.indexOf("\n");
          if (line === "") {
            if (hasData) events.push(pending);
            pending = { data: "" };
            hasData = false;
            continue;
          }
          if (line.startsWith(":")) {
            comments.push(line.slice(1).trim());
            continue;
          }
          const colon = line.indexOf(":");
          const field = colon === -1 ? line : line.slice(0, colon);
          const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "data") {
            pending.data = hasData ? `${pending.data}\n${value}` : value;
            hasData = true;
          } else if (field === "id") pending.id = value;
          else if (field === "event") pending.event = value;
          else if (field === "retry") stream.retry = Number(value);
        }
      });
      res.on("error", () => {});
      resolve(stream);
    });
    req.on("error", reject);
    req.end();
  });
}
