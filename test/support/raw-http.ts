// A kept-alive connection speaking HTTP/1.1 by hand, so a caller decides exactly when bytes leave:
// requests written on several connections in one synchronous run reach the server together.
import { connect, type Socket } from "node:net";

export interface RawAnswer {
  status: number;
  /** The status line and headers as received. */
  headers: string;
  body: string;
}

export class RawHttpClient {
  #buffer = "";
  #waiting: ((answer: RawAnswer) => void) | undefined;
  private constructor(private readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.#buffer += chunk;
      this.#drain();
    });
  }

  static async open(url: string): Promise<RawHttpClient> {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    return new RawHttpClient(socket);
  }

  /** Writes one POST now, synchronously (one request at a time per connection); settles with its answer. */
  post(path: string, body: string): Promise<RawAnswer> {
    const answer = new Promise<RawAnswer>((resolve) => {
      this.#waiting = resolve;
    });
    this.socket.write(
      `POST ${path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    return answer;
  }

  #drain() {
    const end = this.#buffer.indexOf("\r\n\r\n");
    if (end === -1 || this.#waiting === undefined) return;
    const headers = this.#buffer.slice(0, end);
    const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? 0);
    if (this.#buffer.length < end + 4 + length) return;
    const body = this.#buffer.slice(end + 4, end + 4 + length);
    this.#buffer = this.#buffer.slice(end + 4 + length);
    const resolve = this.#waiting;
    this.#waiting = undefined;
    resolve({ status: Number(headers.split(" ")[1]), headers, body });
  }

  close() {
    this.socket.destroy();
  }
}
