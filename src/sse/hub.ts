// A Server-Sent Events hub on node:http responses, for any process that pushes changes to
// browsers or providers: open streams, one pre-serialized frame per event shared by all of them,
// a ring of recent events for Last-Event-ID replay, heartbeats while streams are open.
//
// Bounded by construction: at most `maxStreams` open streams (the caller answers the rest, see
// `hasRoom`), a fixed ring of `replayEvents` events, and a stream whose socket stops draining is
// closed instead of buffered for; its client reconnects with Last-Event-ID.
import type { IncomingMessage, ServerResponse } from "node:http";

export interface SseHubOptions {
  /** Concurrent streams beyond which `hasRoom` is false. */
  maxStreams: number;
  /** Comment line interval that keeps idle proxies from closing the stream. */
  heartbeatMs: number;
  /** Events kept for Last-Event-ID replay. */
  replayEvents: number;
  /** Reconnection delay suggested to clients (SSE `retry:`). */
  retryMs: number;
  /** Unsent bytes at which a stream counts as stuck and is closed. */
  maxBufferedBytes: number;
}

export const DEFAULT_SSE_HUB_OPTIONS: SseHubOptions = {
  maxStreams: 1000,
  heartbeatMs: 15_000,
  replayEvents: 64,
  retryMs: 1000,
  maxBufferedBytes: 64 * 1024,
};

/** Response headers of a stream; shared, since writeHead() reads a header list and never changes it. */
export const SSE_HEADERS: string[] = [
  "content-type",
  "text/event-stream; charset=utf-8",
  "cache-control",
  "no-cache, no-transform",
  // Proxies such as nginx buffer responses unless told not to.
  "x-accel-buffering",
  "no",
];

interface StoredEvent {
  readonly seq: number;
  readonly frame: string;
}

/**
 * Event ids are `<epoch>-<seq>`: `seq` counts events in this process and `epoch` is random per
 * process, so an id from another replica or an earlier run is recognised as foreign (replayAfter
 * answers undefined) rather than mistaken for a position in this one.
 */
export class SseHub {
  readonly options: SseHubOptions;
  // Only has to differ between processes, not to be secret: Math.random spares node:crypto.
  readonly #epoch = Math.floor(Math.random() * 2 ** 32)
    .toString(16)
    .padStart(8, "0");
  readonly #ring: (StoredEvent | undefined)[];
  readonly #streams = new Set<ServerResponse>();
  #seq = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  #sent = 0;
  #rejected = 0;

  constructor(options: Partial<SseHubOptions> = {}) {
    this.options = { ...DEFAULT_SSE_HUB_OPTIONS, ...options };
    this.#ring = new Array(Math.max(1, this.options.replayEvents)).fill(undefined);
  }

  get openStreams(): number {
    return this.#streams.size;
  }

  /** Frames written to streams (one per stream per event). */
  get eventsSent(): number {
    return this.#sent;
  }

  /** Streams the caller turned away (counted by `reject`). */
  get streamsRejected(): number {
    return this.#rejected;
  }

  /** Id of the newest event, or undefined before the first. */
  get lastEventId(): string | undefined {
    return this.#seq === 0 ? undefined : this.#id(this.#seq);
  }

  /** Whether another stream may open now. */
  hasRoom(): boolean {
    return this.#streams.size < this.options.maxStreams;
  }

  /** Counts a stream the caller refused (full, or shutting down). */
  reject(): void {
    this.#rejected += 1;
  }

  #id(seq: number): string {
    return `${this.#epoch}-${seq}`;
  }

  /** A frame of `event` with `data` (one line of JSON), under the newest id: a restatement, not a new event. */
  currentFrame(event: string, data: string): string {
    return `id: ${this.#id(this.#seq)}\nevent: ${event}\ndata: ${data}\n\n`;
  }

  /** Sends a new event to every open stream and keeps it for replay. */
  publish(event: string, data: string): void {
    this.#seq += 1;
    const stored = { seq: this.#seq, frame: this.currentFrame(event, data) };
    this.#ring[this.#seq % this.#ring.length] = stored;
    for (const res of this.#streams) if (this.#write(res, stored.frame)) this.#sent += 1;
  }

  /** Frames after `lastEventId` still held; undefined when the id is foreign or already evicted. */
  replayAfter(lastEventId: string): string[] | undefined {
    const dash = lastEventId.lastIndexOf("-");
    const seq = Number(lastEventId.slice(dash + 1));
    if (dash === -1 || lastEventId.slice(0, dash) !== this.#epoch || !Number.isInteger(seq)) return undefined;
    if (seq < 0 || seq > this.#seq) return undefined;
    const frames: string[] = [];
    for (let s = seq + 1; s <= this.#seq; s++) {
      const stored = this.#ring[s % this.#ring.length];
      if (stored?.seq !== s) return undefined;
      frames.push(stored.frame);
    }
    return frames;
  }

  /**
   * Opens a stream on `res`: the headers, the `retry:` line, then `opening` (frames the client
   * missed, or a greeting); the stream gets every later event and heartbeats until it closes.
   */
  open(req: IncomingMessage, res: ServerResponse, opening = ""): void {
    res.writeHead(200, SSE_HEADERS);
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true);
    res.write(`retry: ${this.options.retryMs}\n\n${opening}`);
    this.#streams.add(res);
    res.once("close", () => {
      this.#streams.delete(res);
      if (this.#streams.size === 0) this.#stopHeartbeat();
    });
    this.#startHeartbeat();
  }

  #write(res: ServerResponse, chunk: string): boolean {
    if (res.writableLength > this.options.maxBufferedBytes) {
      // The client stopped reading: drop it rather than queue without bound.
      res.destroy();
      return false;
    }
    res.write(chunk);
    return true;
  }

  #startHeartbeat(): void {
    if (this.#heartbeat !== undefined) return;
    this.#heartbeat = setInterval(() => {
      for (const res of this.#streams) this.#write(res, ": heartbeat\n\n");
    }, this.options.heartbeatMs);
    this.#heartbeat.unref();
  }

  #stopHeartbeat(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  /** Ends every stream (shutdown): clients reconnect elsewhere with their Last-Event-ID. */
  closeAll(): void {
    this.#stopHeartbeat();
    for (const res of this.#streams) res.end();
    this.#streams.clear();
  }
}
