// The dashboard's event stream (GET /api/events, server-sent events): every FeatureFlag change the
// watch sees goes to every open page as one `flag` frame; comments keep idle connections open.
import type { Request, Response } from "express";
import type { FlagChange } from "./cluster.js";
import { flagRow } from "./views.js";

/** How often idle connections (and proxies between) get a comment. */
const HEARTBEAT_MS = 15_000;

export class FlagStream {
  readonly #streams = new Set<Response>();
  readonly #heartbeat: NodeJS.Timeout;

  constructor(private readonly now: () => Date) {
    this.#heartbeat = setInterval(() => {
      for (const res of this.#streams) res.write(": heartbeat\n\n");
    }, HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  /** Answers GET /api/events: the stream stays open until the page goes. */
  readonly open = (req: Request, res: Response): void => {
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      connection: "keep-alive",
    });
    // First frame at once, so the page knows it is live before anything changes.
    res.write("retry: 1000\nevent: hello\ndata: {}\n\n");
    this.#streams.add(res);
    req.on("close", () => this.#streams.delete(res));
  };

  /** Sends one change to every open page. */
  readonly broadcast = (change: FlagChange): void => {
    const payload =
      change.type === "upsert"
        ? { type: "upsert", row: flagRow(change.flag, this.now()) }
        : { type: "delete", namespace: change.flag.metadata.namespace, name: change.flag.metadata.name };
    const frame = `event: flag\ndata: ${JSON.stringify(payload)}\n\n`;
    for (const res of this.#streams) res.write(frame);
  };

  close(): void {
    clearInterval(this.#heartbeat);
    for (const res of this.#streams) res.end();
    this.#streams.clear();
  }
}
