// Batches experiment events on their way to the event store, in bounded memory.
//
// At most `maxPending` events are held, counting those of the write in flight; an offer beyond that
// is refused (back-pressure: /track answers 503 and the application retries; an exposure is
// counted as dropped and offered again at the user's next evaluation). A write starts when half
// the bound is queued or `flushIntervalMs` after the oldest queued event, takes everything queued,
// and on failure puts it back and retries with a growing delay; events are never dropped once
// accepted. close() stops taking events and writes every held one (retrying until its deadline).
// A crash loses what is held: at most `maxPending` events, one batch, which is the last
// flush interval's events while the store keeps up.

export interface EventBatcherOptions<T> {
  /** Writes one batch; all or nothing (a rejection keeps the batch for the next try). */
  write(batch: readonly T[]): Promise<void>;
  /** Events held at most, queued and being written. */
  maxPending?: number;
  /** Longest time an accepted event waits before its batch is written. */
  flushIntervalMs?: number;
  /** First delay before a failed write is retried; doubles up to maxRetryDelayMs. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** A write failed (the batch is kept and retried). */
  onWriteError?(error: Error, held: number): void;
  /** A write succeeded, with its size and duration. */
  onWritten?(batch: readonly T[], seconds: number): void;
}

export const DEFAULT_MAX_PENDING_EVENTS = 5_000;
export const DEFAULT_FLUSH_INTERVAL_MS = 1_000;

export interface CloseOutcome {
  written: number;
  /** Events still held when the deadline passed (the store did not take them). */
  lost: number;
}

export class EventBatcher<T> {
  readonly maxPending: number;
  readonly #opts: EventBatcherOptions<T>;
  readonly #flushIntervalMs: number;
  #queue: T[] = [];
  #inFlight = 0;
  #writing: Promise<unknown> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #retryDelayMs: number;
  #closed = false;
  #written = 0;

  constructor(options: EventBatcherOptions<T>) {
    this.#opts = options;
    this.maxPending = options.maxPending ?? DEFAULT_MAX_PENDING_EVENTS;
    if (!Number.isInteger(this.maxPending) || this.maxPending < 1)
      throw new RangeError(`maxPending must be a positive integer, got ${this.maxPending}`);
    this.#flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.#retryDelayMs = options.retryDelayMs ?? 100;
  }

  /** Events held: queued plus the write in flight. */
  get held(): number {
    return this.#queue.length + this.#inFlight;
  }

  /** Events the store has taken so far. */
  get written(): number {
    return this.#written;
  }

  /** Accepts an event; false when the bound is reached or the batcher is closed (nothing is kept). */
  offer(event: T): boolean {
    if (this.#closed || this.held >= this.maxPending) return false;
    this.#queue.push(event);
    if (this.#queue.length * 2 >= this.maxPending) this.#startWrite();
    else this.#schedule(this.#flushIntervalMs);
    return true;
  }

  #schedule(delayMs: number): void {
    if (this.#timer !== undefined || this.#writing !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#startWrite();
    }, delayMs);
    // Held events are written by close() on shutdown; the timer alone keeps no process alive.
    this.#timer.unref();
  }

  #startWrite(): void {
    if (this.#writing !== undefined || this.#queue.length === 0) return;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#writing = this.#writeOnce().finally(() => {
      this.#writing = undefined;
      if (this.#queue.length === 0 || this.#closed) return;
      if (this.#queue.length * 2 >= this.maxPending && this.#lastWriteOk) this.#startWrite();
      else this.#schedule(this.#lastWriteOk ? this.#flushIntervalMs : this.#retryDelayMs);
    });
  }

  #lastWriteOk = true;

  async #writeOnce(): Promise<boolean> {
    const batch = this.#queue;
    this.#queue = [];
    this.#inFlight = batch.length;
    const started = performance.now();
    try {
      await this.#opts.write(batch);
      this.#inFlight = 0;
      this.#written += batch.length;
      this.#retryDelayMs = this.#opts.retryDelayMs ?? 100;
      this.#lastWriteOk = true;
      this.#opts.onWritten?.(batch, (performance.now() - started) / 1000);
      return true;
    } catch (error) {
      // Back in front of what arrived meanwhile; the bound counted them all along.
      this.#queue = batch.concat(this.#queue);
      this.#inFlight = 0;
      this.#lastWriteOk = false;
      this.#opts.onWriteError?.(error as Error, this.held);
      this.#retryDelayMs = Math.min(this.#retryDelayMs * 2, this.#opts.maxRetryDelayMs ?? 10_000);
      return false;
    }
  }

  /** Writes everything queued now (and waits for a write in flight); rejects nothing. */
  async flush(): Promise<boolean> {
    await this.#writing;
    if (this.#queue.length === 0) return true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const writing = this.#writeOnce();
    this.#writing = writing;
    try {
      return await writing;
    } finally {
      this.#writing = undefined;
    }
  }

  /**
   * Stops taking events and writes every held one, retrying failed writes until `timeoutMs`
   * has passed; reports how many the store took and how many were left.
   */
  async close(timeoutMs = 10_000): Promise<CloseOutcome> {
    this.#closed = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const deadline = Date.now() + timeoutMs;
    const before = this.#written;
    let delay = this.#opts.retryDelayMs ?? 100;
    while (this.held > 0) {
      const ok = await this.flush();
      if (this.#queue.length === 0) break;
      const left = deadline - Date.now();
      if (left <= 0) break;
      if (!ok) {
        // Waiting for the store to come back, not for a condition this process could observe.
        await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
        delay = Math.min(delay * 2, this.#opts.maxRetryDelayMs ?? 10_000);
      }
    }
    return { written: this.#written - before, lost: this.held };
  }
}
