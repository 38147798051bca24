// The dashboard's event stream (GET /api/events, server-sent events) on the project's one SSE hub:
// every FeatureFlag change the watch sees goes to every open page as one `flag` frame. Each
// (re)connection starts with `hello`, on which the page reloads what it shows, so nothing is
// replayed from Last-Event-ID.
import type { Request, Response } from "express";
import { SseHub } from "../sse/hub.js";
import type { FlagChange } from "./cluster.js";
import { flagRow } from "./views.js";

/** Open pages beyond which a new one is answered 503 (each holds a socket and a buffer). */
const MAX_PAGES = 1000;

export class FlagStream {
  readonly #hub = new SseHub({ maxStreams: MAX_PAGES, retryMs: 1000 });

  constructor(private readonly now: () => Date) {}

  /** Answers GET /api/events: the stream stays open until the page goes. */
  readonly open = (req: Request, res: Response): void => {
    if (!this.#hub.hasRoom()) {
      this.#hub.reject();
      res.status(503).json({ error: `too many open dashboard pages (${MAX_PAGES})` });
      return;
    }
    // First frame at once, so the page knows it is live before anything changes.
    this.#hub.open(req, res, "event: hello\ndata: {}\n\n");
  };

  /** Sends one change to every open page. */
  readonly broadcast = (change: FlagChange): void => {
    const payload =
      change.type === "upsert"
        ? { type: "upsert", row: flagRow(change.flag, this.now()) }
        : { type: "delete", namespace: change.flag.metadata.namespace, name: change.flag.metadata.name };
    this.#hub.publish("flag", JSON.stringify(payload));
  };

  close(): void {
    this.#hub.closeAll();
  }
}
