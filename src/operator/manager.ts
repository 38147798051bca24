// Runs the operator's parts as runnables, after controller-runtime's manager: those that need
// leadership start once this replica holds the lease (leader.ts), the others at once. It owns the
// lease, SIGTERM/SIGINT and the order of shutdown. Losing the lease rejects `done`; it never exits
// the process itself (the CLI does, and the Deployment restarts the replica as a standby).
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { LeaderElector } from "./leader.js";

/** A part of the operator with a life of its own: a server, a loop, the cache, the workers. */
export interface Runnable {
  readonly name: string;
  /** Started only while this replica leads (the workers and loops that write). */
  readonly needsLeadership: boolean;
  /** Starts it; `signal` aborts when the manager begins to stop or leadership is lost. */
  start(signal: AbortSignal): void | Promise<void>;
  /** Stops it and waits for work in flight (bounded by the runnable). */
  stop(): Promise<void>;
}

export interface LeaderElectionSettings {
  namespace: string;
  name: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface ManagerOptions {
  kc: KubeConfig;
  log: Logger;
  identity: string;
  /** Without it this replica leads at once (a single replica). */
  leaderElection?: LeaderElectionSettings;
  /** Told whenever leadership starts or ends (the leader_election_master_status gauge). */
  onLeadership?: (leading: boolean) => void;
}

/** Why `done` rejects: this replica must stop writing at once. */
export class LeadershipLostError extends Error {
  override name = "LeadershipLostError";
}

export class Manager {
  readonly #options: ManagerOptions;
  readonly #runnables: Runnable[] = [];
  /** Started, in start order (stopped in reverse). */
  readonly #started: Runnable[] = [];
  readonly #elector?: LeaderElector;
  readonly #aborts = { all: new AbortController(), leading: new AbortController() };
  #leading = false;
  #stopping = false;
  #settle = { resolve: () => {}, reject: (_error: Error) => {} };
  /** Resolves once a signal has stopped everything; rejects when the lease is lost. */
  readonly done: Promise<void>;

  constructor(options: ManagerOptions) {
    this.#options = options;
    this.done = new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    if (options.leaderElection) {
      this.#elector = new LeaderElector({
        kc: options.kc,
        log: options.log,
        identity: options.identity,
        ...options.leaderElection,
        onStartedLeading: () => void this.#lead(),
        onStoppedLeading: () => this.#loseLeadership(),
      });
    }
  }

  add(runnable: Runnable): void {
    this.#runnables.push(runnable);
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** True from the first step of shutdown on (readiness turns false). */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Starts the runnables that need no leadership, in order, then runs for the lease (or leads). */
  async start(): Promise<void> {
    for (const runnable of this.#runnables) {
      if (runnable.needsLeadership || this.#stopping) continue;
      this.#started.push(runnable);
      await runnable.start(this.#aborts.all.signal);
    }
    if (this.#stopping) return;
    if (this.#elector) this.#elector.start();
    else void this.#lead();
  }

  async #lead(): Promise<void> {
    if (this.#stopping || this.#leading) return;
    this.#leading = true;
    this.#options.onLeadership?.(true);
    for (const runnable of this.#runnables) {
      if (!runnable.needsLeadership || this.#stopping || !this.#leading) continue;
      this.#started.push(runnable);
      try {
        await runnable.start(this.#aborts.leading.signal);
      } catch (error) {
        this.#options.log.error(
          { reason: "StartFailed", runnable: runnable.name, err: (error as Error).message },
          "cannot start",
        );
      }
    }
  }

  /** A replica that lost the lease must stop writing at once: controller-runtime exits, so do we. */
  #loseLeadership(): void {
    this.#leading = false;
    this.#options.onLeadership?.(false);
    this.#aborts.leading.abort();
    this.#options.log.error({ reason: "LeaderElectionLost" }, "leadership lost; exiting");
    this.#settle.reject(new LeadershipLostError("leadership lost"));
  }

  /**
   * Stops taking work, stops the leader's runnables (the workers finish in-flight reconciles, up
   * to their deadline), releases the lease, then stops the rest in reverse start order.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#aborts.leading.abort();
    this.#aborts.all.abort();
    const started = [...this.#started].reverse();
    for (const runnable of started.filter((r) => r.needsLeadership)) await runnable.stop();
    await this.#elector?.stop();
    for (const runnable of started.filter((r) => !r.needsLeadership)) await runnable.stop();
  }

  /**
   * On SIGTERM or SIGINT: stop, within `timeoutMs` plus a margin (a hung API request must not keep
   * a terminating Pod, or a test, waiting forever), then resolve `done`.
   */
  handleSignals(timeoutMs: number): void {
    const shutdown = async (signal: string) => {
      if (this.#stopping) return;
      const { log } = this.#options;
      log.info({ reason: signal }, "shutting down");
      const forced = new Promise<"forced">((resolve) =>
        setTimeout(() => resolve("forced"), timeoutMs + 5_000).unref(),
      );
      if ((await Promise.race([this.stop(), forced])) === "forced") {
        log.warn({ reason: "ShutdownTimeout" }, "shutdown did not finish in time; exiting anyway");
      }
      log.info({ reason: "Stopped" }, "stopped");
      this.#settle.resolve();
    };
    process.on("SIGTERM", () => void shutdown("SIGTERM"));
    process.on("SIGINT", () => void shutdown("SIGINT"));
  }
}

/** A loop (analysis, experiments) as a runnable of the leader. */
export function leaderLoop(name: string, loop: { start(): void; stop(): Promise<void> }): Runnable {
  return { name, needsLeadership: true, start: () => loop.start(), stop: () => loop.stop() };
}
