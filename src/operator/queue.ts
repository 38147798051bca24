// A work queue shaped like client-go's: keys are de-duplicated, a key is handed to at most one
// worker at a time (a key added while it is being processed is queued again once it is done),
// failures are retried with per-key exponential backoff, and timed work uses addAfter.
import type { QueueMetrics } from "./metrics.js";

export interface RateLimiterOptions {
  baseDelayMs: number;
  maxDelayMs: number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly addedAt = new Map<string, number>();
  private waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;

  constructor(
    private readonly metrics?: QueueMetrics,
    private readonly limiter: RateLimiterOptions = { baseDelayMs: 5, maxDelayMs: 60_000 },
  ) {}

  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.metrics?.adds.inc();
    this.dirty.add(key);
    if (this.processing.has(key)) return; // re-queued by done()
    this.push(key);
  }

  /** Adds the key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Re-adds a key after its next backoff delay (5 ms, 10 ms, ... up to maxDelayMs). */
  addRateLimited(key: string): void {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    this.metrics?.retries.inc();
    this.addAfter(key, Math.min(this.limiter.baseDelayMs * 2 ** failures, this.limiter.maxDelayMs));
  }

  /** Clears a key's failure count after it succeeds. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Next key to process, or undefined once the queue is shut down and empty. */
  get(): Promise<string | undefined> {
    const key = this.take();
    if (key !== undefined || this.shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks a key processed; if it was added meanwhile it goes back in the queue. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) this.push(key);
  }

  /** Stops accepting work; get() drains what is queued, then returns undefined. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  /** True when nothing is queued or being processed. */
  get idle(): boolean {
    return this.queue.length === 0 && this.processing.size === 0;
  }

  private push(key: string): void {
    const waiter = this.waiters.shift();
    this.addedAt.set(key, Date.now());
    if (waiter) {
      this.start(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
    this.metrics?.depth.set(this.queue.length);
  }

  private take(): string | undefined {
    const key = this.queue.shift();
    if (key === undefined) return undefined;
    this.metrics?.depth.set(this.queue.length);
    this.start(key);
    return key;
  }

  private start(key: string): void {
    this.dirty.delete(key);
    this.processing.add(key);
    const added = this.addedAt.get(key);
    if (added !== undefined) this.metrics?.queueDuration.observe((Date.now() - added) / 1000);
  }
}
