// Experiment events for the event store: an exposure (OpenTelemetry `feature_flag.evaluation`)
// when a user is served a variant by a flag's split, a conversion (OpenFeature `track`) per
// /track call, each with the user as an HMAC of the targeting key under the install's exposure key
// (the same key in every sidecar, so one user is one context id across pods and restarts).
//
// Each process sends a user's exposure to a flag once (remembering a bounded number of users); the
// store's per-user aggregate deduplicates across processes. Events go through a bounded batcher
// (./event-batcher.ts): when it is full an exposure is dropped, counted, and not remembered, so
// the user's next evaluation offers it again; a conversion is refused and /track answers 503.

import { experimentVariant } from "../core/attribution.js";
import type { FlagDocument } from "../core/document.js";
import type { EvaluationDetails } from "../core/evaluate.js";
import { HmacSha256 } from "../core/sha256.js";
import {
  EXPOSURE_EVENT,
  type ExperimentEvent,
  type ExperimentEventWriter,
} from "../experiment/event-store.js";
import { BoundedSet, DEFAULT_MAX_USERS } from "../telemetry/experiment-counters.js";
import { Counter, Gauge, Histogram, type Registry } from "../telemetry/prom.js";
import { type CloseOutcome, EventBatcher } from "./event-batcher.js";

export interface ExperimentEventsOptions {
  writer: ExperimentEventWriter;
  /** Key of the context id's HMAC; the same in every sidecar whose events must join. */
  key: Uint8Array;
  registry: Registry;
  maxPending?: number;
  flushIntervalMs?: number;
  /** Users whose exposure this process remembers having sent, per flag. */
  maxUsers?: number;
  onWriteError?(error: Error, held: number): void;
}

export class ExperimentEvents {
  readonly #batcher: EventBatcher<ExperimentEvent>;
  readonly #hmac: HmacSha256;
  readonly #sent: BoundedSet;
  readonly #writer: ExperimentEventWriter;
  readonly #dropped: Counter<"kind">;

  constructor(options: ExperimentEventsOptions) {
    this.#writer = options.writer;
    this.#hmac = new HmacSha256(options.key);
    this.#sent = new BoundedSet(options.maxUsers ?? DEFAULT_MAX_USERS);
    const registers = [options.registry];
    const written = new Counter({
      name: "flagwright_experiment_events_written_total",
      help: "Experiment events the event store took, by kind (exposure, conversion).",
      labelNames: ["kind"],
      registers,
    });
    this.#dropped = new Counter({
      name: "flagwright_experiment_events_dropped_total",
      help: "Experiment events refused because the sidecar held its maximum of unwritten events, by kind.",
      labelNames: ["kind"],
      registers,
    });
    const failures = new Counter({
      name: "flagwright_experiment_event_write_failures_total",
      help: "Batch writes to the event store that failed (the batch is kept and retried).",
      registers,
    });
    const duration = new Histogram({
      name: "flagwright_experiment_event_write_duration_seconds",
      help: "Time to write one batch of experiment events to the event store.",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.#batcher = new EventBatcher<ExperimentEvent>({
      write: (batch) => this.#writer.insert(batch),
      maxPending: options.maxPending,
      flushIntervalMs: options.flushIntervalMs,
      onWritten(batch, seconds) {
        let exposures = 0;
        for (const e of batch) if (e.kind === "exposure") exposures++;
        if (exposures > 0) written.inc({ kind: "exposure" }, exposures);
        if (batch.length > exposures) written.inc({ kind: "conversion" }, batch.length - exposures);
        duration.observe(seconds);
      },
      onWriteError(error, held) {
        failures.inc();
        options.onWriteError?.(error, held);
      },
    });
    const batcher = this.#batcher;
    new Gauge({
      name: "flagwright_experiment_events_held",
      help: "Experiment events accepted and not yet written to the event store.",
      registers,
      collect() {
        this.set(batcher.held);
      },
    });
  }

  get held(): number {
    return this.#batcher.held;
  }

  /** An exposure of `user` to `flag`'s split, once per user and flag per process. */
  exposure(document: FlagDocument, flag: string, user: string, result: EvaluationDetails): void {
    const variant = experimentVariant(result);
    if (variant === undefined) return;
    if (document.flags[flag]?.variants === undefined) return;
    const seenKey = `${flag}\0${user}`;
    if (this.#sent.has(seenKey)) return;
    const accepted = this.#batcher.offer({
      id: globalThis.crypto.randomUUID(),
      kind: "exposure",
      name: EXPOSURE_EVENT,
      time: new Date(),
      namespace: document.namespace,
      flag,
      variant,
      contextId: this.#hmac.hex(user, 32),
    });
    if (accepted) this.#sent.add(seenKey);
    else this.#dropped.inc({ kind: "exposure" });
  }

  /** A tracked conversion; false when the batcher is full (the caller answers 503). */
  conversion(
    namespace: string,
    flag: string,
    variant: string,
    user: string,
    event: string,
    value?: number,
  ): boolean {
    const accepted = this.#batcher.offer({
      id: globalThis.crypto.randomUUID(),
      kind: "conversion",
      name: event,
      time: new Date(),
      namespace,
      flag,
      variant,
      contextId: this.#hmac.hex(user, 32),
      value: value !== undefined && Number.isFinite(value) ? value : undefined,
    });
    if (!accepted) this.#dropped.inc({ kind: "conversion" });
    return accepted;
  }

  /** Writes every held event (retrying until `timeoutMs`), then closes the store connection. */
  async close(timeoutMs: number): Promise<CloseOutcome> {
    const outcome = await this.#batcher.close(timeoutMs);
    await this.#writer.close();
    return outcome;
  }
}
