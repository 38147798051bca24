// The client side of the SSE fan-out rows (bench/sidecar-sse.ts): thousands of GET
// /ofrep/v1/events streams in this one process, each a bare node:net socket (no HTTP parser, no
// ClientRequest or IncomingMessage, no polling, no buffer allocated per read: every socket reads into
// one shared buffer through `onread`), so that the client's own cost per stream and per event stays
// small beside the server's. It checks the status line, then counts `data:` lines (one per event;
// chunked framing and `retry:`/heartbeat lines carry none) and stamps each event's arrival with
// performance.now() in the socket's read callback.
import { connect, type Socket } from "node:net";

/** Every socket's reads land here in turn (one read is handled before the next starts). */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const DATA_LINE = Buffer.from("\ndata:", "latin1");

/** Called once per event a stream receives, with the stream's index and the arrival time. */
export type ArrivalCallback = (stream: number, at: number) => void;

export class SseFanOutClient {
  readonly #host: string;
  readonly #port: number;
  readonly #path: string;
  readonly #sockets: Socket[] = [];
  #onEvent: ArrivalCallback | undefined;
  /** Set while nextEvent waits: a stream lost then fails the wait at once (the server died). */
  #onLost: (() => void) | undefined;
  #closing = false;
  /** Streams that ended or failed after they had opened (the server closed them or died). */
  lost = 0;

  constructor(url: string) {
    const u = new URL(url);
    this.#host = u.hostname;
    this.#port = Number(u.port);
    this.#path = u.pathname + u.search;
  }

  get size(): number {
    return this.#sockets.length;
  }

  /** Opens streams until `total` are open, `concurrency` at a time; rejects on the first failure. */
  async openUpTo(total: number, concurrency = 64): Promise<void> {
    let next = this.#sockets.length;
    const worker = async () => {
      while (next < total) {
        next += 1;
        await this.#openOne();
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, total - next) }, worker));
  }

  /**
   * Runs `trigger` and resolves with every open stream's delay (ms) from just before the trigger
   * to its first event after it; rejects after `timeoutMs` naming how many never got one.
   */
  nextEvent(trigger: () => void, timeoutMs: number): Promise<number[]> {
    const n = this.#sockets.length;
    const delays: number[] = new Array(n);
    const seen = new Uint8Array(n);
    let pending = n;
    return new Promise((resolve, reject) => {
      let started = 0;
      const fail = () => {
        clearTimeout(timer);
        this.#onEvent = undefined;
        this.#onLost = undefined;
        reject(new Error(`${pending} of ${n} streams missed the event (${this.lost} streams lost)`));
      };
      const timer = setTimeout(fail, timeoutMs);
      this.#onLost = fail;
      this.#onEvent = (i, at) => {
        if (seen[i] === 1) return;
        seen[i] = 1;
        delays[i] = at - started;
        pending -= 1;
        if (pending === 0) {
          clearTimeout(timer);
          this.#onEvent = undefined;
          this.#onLost = undefined;
          resolve(delays);
        }
      };
      started = performance.now();
      trigger();
    });
  }

  closeAll(): void {
    this.#onEvent = undefined;
    this.#onLost = undefined;
    this.#closing = true;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.length = 0;
  }

  #openOne(): Promise<void> {
    let index = -1; // its place in #sockets once open
    return new Promise((resolve, reject) => {
      let head = "";
      let open = false;
      // How many bytes of "\ndata:" ended the previous read (a line split across two reads).
      let partial = 0;
      const emit = (at: number) => this.#onEvent?.(index, at);
      const onRead = (nread: number, bytes: Buffer): boolean => {
        const at = performance.now();
        let from = 0;
        if (!open) {
          head += bytes.toString("latin1", 0, nread);
          const end = head.indexOf("\r\n\r\n");
          if (end === -1) return true;
          if (!head.startsWith("HTTP/1.1 200")) {
            socket.destroy();
            reject(new Error(`a stream was answered ${head.slice(0, head.indexOf("\r\n"))}`));
            return false;
          }
          open = true;
          index = this.#sockets.push(socket) - 1;
          from = nread - (head.length - (end + 4));
          head = "";
          resolve();
        }
        if (partial > 0) {
          const rest = DATA_LINE.length - partial;
          if (
            nread - from >= rest &&
            bytes.compare(DATA_LINE, partial, DATA_LINE.length, from, from + rest) === 0
          ) {
            emit(at);
          }
        }
        for (let i = bytes.indexOf(DATA_LINE, from); i !== -1 && i + DATA_LINE.length <= nread; ) {
          emit(at);
          i = bytes.indexOf(DATA_LINE, i + DATA_LINE.length);
        }
        partial = 0;
        const nl = bytes.lastIndexOf(0x0a, nread - 1);
        if (
          nl >= from &&
          nread - nl < DATA_LINE.length &&
          bytes.compare(DATA_LINE, 0, nread - nl, nl, nread) === 0
        ) {
          partial = nread - nl;
        }
        return true;
      };
      const socket = connect({
        host: this.#host,
        port: this.#port,
        noDelay: true,
        // Reads land in one shared buffer, handled before the next read: no allocation per read.
        onread: { buffer: READ_BUFFER, callback: (nread, buf) => onRead(nread, buf as Buffer) },
      });
      socket.once("connect", () => {
        socket.write(
          `GET ${this.#path} HTTP/1.1\r\nHost: ${this.#host}:${this.#port}\r\nAccept: text/event-stream\r\n\r\n`,
        );
      });
      let done = false;
      const gone = (err?: Error) => {
        if (done) return;
        done = true;
        if (open) {
          if (!this.#closing) {
            this.lost += 1;
            this.#onLost?.();
          }
        } else reject(err ?? new Error("a stream closed before its headers"));
      };
      socket.once("error", gone);
      socket.once("close", () => gone());
    });
  }
}
