// Exposure events for experiment analysis: one JSON line per single-flag evaluation that produced
// a value for a user (flag, variant, reason, hashed user, time). Users are hashed so raw ids do not
// leak into analytics pipelines; the hash is stable, so events still join per user.
import { createWriteStream, type WriteStream } from "node:fs";
import type { EvaluationDetails } from "../core/evaluate.js";
import { sha256Hex } from "../core/sha256.js";

export class ExposureLog {
  readonly #out: NodeJS.WritableStream;
  readonly #file: WriteStream | undefined;

  /** `target` is a file path (appended to) or "-" for stdout. */
  constructor(target: string) {
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
        user: sha256Hex(user).slice(0, 16),
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
