// The worker loop, after controller-runtime's controller: once the cache has synced, `workers`
// workers take namespaces from the queue and reconcile them, retrying failures with backoff and
// requeueing when the plan asks to look again. It runs only while this replica leads.
import type { Logger } from "pino";
import type { Runnable } from "./manager.js";
import type { OperatorMetrics } from "./metrics.js";
import type { WorkQueue } from "./queue.js";
import type { ReconcileResult } from "./reconciler.js";

/** A burst of changes in one namespace (a kubectl apply of many flags) becomes one reconcile. */
export const DEBOUNCE_MS = 100;

export interface ControllerOptions {
  queue: WorkQueue;
  reconciler: { reconcile(namespace: string): Promise<ReconcileResult>; flushed(): Promise<void> };
  /** Namespaces worth a reconcile when the workers start (all those the cache knows). */
  knownNamespaces: () => Iterable<string>;
  /** Whether the cache has listed everything. */
  synced: () => boolean;
  /** Whether this replica still leads: a worker never writes after the lease is lost. */
  leading: () => boolean;
  metrics: OperatorMetrics;
  log: Logger;
  workers: number;
  /** How long stop waits for in-flight reconciles and status writes. */
  drainDeadlineMs: number;
}

export class Controller implements Runnable {
  readonly name = "controller";
  readonly needsLeadership = true;
  readonly #options: ControllerOptions;
  #workers: Promise<void>[] = [];
  #active = 0;
  #stopped = false;

  constructor(options: ControllerOptions) {
    this.#options = options;
  }

  /** Every namespace the cache knows, after a relist or on taking over. */
  enqueueAll(): void {
    for (const namespace of this.#options.knownNamespaces()) this.#options.queue.add(namespace);
  }

  /** Plans only from a complete cache: a namespace planned before the ConfigMaps are listed would look unprojected and be written again. */
  async start(signal: AbortSignal): Promise<void> {
    signal.addEventListener("abort", () => this.#options.queue.shutDown(), { once: true });
    await new Promise<void>((resolve) => {
      const check = () =>
        this.#options.synced() || this.#stopped || signal.aborted ? resolve() : setTimeout(check, 50).unref();
      check();
    });
    this.#workers = Array.from({ length: this.#options.workers }, () => this.#work());
    if (!this.#stopped && !signal.aborted) this.enqueueAll();
  }

  /** Lets in-flight reconciles and their status writes finish, up to the drain deadline. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#options.queue.shutDown();
    const drained = Promise.all(this.#workers).then(() => this.#options.reconciler.flushed());
    await Promise.race([
      drained,
      new Promise((resolve) => setTimeout(resolve, this.#options.drainDeadlineMs).unref()),
    ]);
  }

  async #work(): Promise<void> {
    const { queue, metrics } = this.#options;
    for (;;) {
      // Yield to timers and I/O between items: a key requeued at once (delay 0) must not starve
      // the lease renewal, webhooks or SIGTERM of this single-threaded process.
      await new Promise((resolve) => setImmediate(resolve));
      const namespace = await queue.get();
      if (namespace === undefined) return;
      this.#active++;
      metrics.reconcile.activeWorkers(this.#active);
      const started = performance.now();
      try {
        if (this.#options.leading()) await this.#reconcile(namespace);
      } finally {
        metrics.reconcile.time((performance.now() - started) / 1000);
        queue.done(namespace);
        this.#active--;
        metrics.reconcile.activeWorkers(this.#active);
      }
    }
  }

  async #reconcile(namespace: string): Promise<void> {
    const { queue, metrics, log } = this.#options;
    try {
      const { requeueAfterMs } = await this.#options.reconciler.reconcile(namespace);
      queue.forget(namespace);
      if (requeueAfterMs !== undefined) {
        queue.addAfter(namespace, requeueAfterMs);
        metrics.reconcile.total("requeue_after");
      } else {
        metrics.reconcile.total("success");
      }
    } catch (error) {
      metrics.reconcile.total("error");
      metrics.reconcile.error();
      const err = error as { code?: number; message?: string };
      log.warn(
        {
          namespace,
          reason: err.code === 409 ? "Conflict" : "ReconcileFailed",
          code: err.code,
          err: err.message,
        },
        "reconcile failed; retrying with backoff",
      );
      queue.addRateLimited(namespace);
    }
  }
}
