// Exposure events for experiment analysis: one JSON line per single-flag evaluation that produced
// a value for a user (flag, variant, reason, hashed user, time). Users are hashed so raw ids do not
// leak into analytics pipelines. The hash is an HMAC under a key the install keeps secret: a plain
// hash of an e-mail address or a numeric id is reversed by hashing the candidates. Events join per
// user wherever the same key is used.
import { createWriteStream, type WriteStream } from "node:fs";
import type { EvaluationDetails } from "../core/evaluate.js";
import { HmacSha256 } from "../core/sha256.js";

/** Bytes of an exposure key below which it is refused: a short key can be guessed. */
export const MIN_EXPOSURE_KEY_BYTES = 16;

/** The key in a key file's content: its bytes without surrounding whitespace; throws when too short. */
export function exposureKeyOf(content: Uint8Array, origin: string): Uint8Array {
  const isSpace = (b: number | undefined) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
  let start = 0;
  let end = content.length;
  while (start < end && isSpace(content[start])) start++;
  while (end > start && isSpace(content[end - 1])) end--;
  if (end - start < MIN_EXPOSURE_KEY_BYTES) {
    throw new Error(
      `${origin} holds ${end - start} bytes; an exposure key needs at least ${MIN_EXPOSURE_KEY_BYTES}`,
    );
  }
  return content.subarray(start, end);
}

/** A random key for a process given none: its hashes join only within this process. */
export function randomExposureKey(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(32));
}

export class ExposureLog {
  readonly #out: NodeJS.WritableStream;
  readonly #file: WriteStream | undefined;
  readonly #hmac: HmacSha256;

  /** `target` is a file path (appended to) or "-" for stdout; `key` keys the user hash. */
  constructor(target: string, key: Uint8Array) {
    this.#hmac = new HmacSha256(key);
    if (target === "-") {
      this.#out = process.stdout;
    } else {
      this.#file = createWriteStream(target, { flags: "a" });
      this.#out = this.#file;
    }
  }

  record(flag: string, user: string, result: EvaluationDetails, documentRevision: string): void {
    if (result.errorCode !== undefined) return;
    this.#out.write(
      `${JSON.stringify({
        time: new Date().toISOString(),
        flag,
        variant: result.variant ?? null,
        reason: result.reason,
        user: this.#hmac.hex(user, 16),
        revision: documentRevision,
      })}\n`,
    );
  }

  close(): Promise<void> {
    const file = this.#file;
    if (!file) return Promise.resolve();
    return new Promise((resolve) => file.end(resolve));
  }
}
