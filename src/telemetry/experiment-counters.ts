// Experiment counters: exposures per flag and variant, and conversions reported by the
// application (POST /track, or the provider's track()), attributed to the variant the user is
// assigned. The variant is recomputed from the deterministic hash on every conversion, never
// stored, so any replica attributes a user the same way.
//
//   flagwright_exposures_total{namespace,flag,variant}
//   flagwright_conversions_total{namespace,flag,variant,event}
//   flagwright_conversion_value_total{namespace,flag,variant,event}   (sum of the optional value)
//
// Mode "first" (default) counts a user once per flag (and once per flag and event for
// conversions) per process, remembering at most `maxUsers` keys (oldest forgotten first), so the
// counts approximate users, the unit the analysis assumes. Mode "every" counts every evaluation.

import { experimentVariant } from "../core/attribution.js";
import type { FlagDocument } from "../core/document.js";
import type { EvaluationDetails } from "../core/evaluate.js";
import { Counter, type Registry } from "./prom.js";

export type ExposureMode = "first" | "every";
export const DEFAULT_MAX_USERS = 100_000;

export interface ExperimentCountersOptions {
  mode?: ExposureMode;
  maxUsers?: number;
}

/** A bounded set with oldest-first eviction (a Map keeps insertion order). */
export class BoundedSet {
  readonly #items = new Map<string, true>();
  constructor(readonly max: number) {}
  has(key: string): boolean {
    return this.#items.has(key);
  }
  /** Adds the key; false when it was already there. */
  add(key: string): boolean {
    if (this.#items.has(key)) return false;
    this.#items.set(key, true);
    if (this.#items.size > this.max) {
      const oldest = this.#items.keys().next().value;
      if (oldest !== undefined) this.#items.delete(oldest);
    }
    return true;
  }
  get size() {
    return this.#items.size;
  }
}

export class ExperimentCounters {
  readonly mode: ExposureMode;
  readonly #seenExposures: BoundedSet;
  readonly #seenConversions: BoundedSet;
  readonly #exposures: Counter<"namespace" | "flag" | "variant">;
  readonly #conversions: Counter<"namespace" | "flag" | "variant" | "event">;
  readonly #values: Counter<"namespace" | "flag" | "variant" | "event">;

  constructor(registry: Registry, options: ExperimentCountersOptions = {}) {
    this.mode = options.mode ?? "first";
    const max = options.maxUsers ?? DEFAULT_MAX_USERS;
    this.#seenExposures = new BoundedSet(max);
    this.#seenConversions = new BoundedSet(max);
    const registers = [registry];
    this.#exposures = new Counter({
      name: "flagwright_exposures_total",
      help: "Users (mode first) or evaluations (mode every) that were served a variant, by flag and variant.",
      labelNames: ["namespace", "flag", "variant"],
      registers,
    });
    this.#conversions = new Counter({
      name: "flagwright_conversions_total",
      help: "Conversion events reported by the application, attributed to the user's variant.",
      labelNames: ["namespace", "flag", "variant", "event"],
      registers,
    });
    this.#values = new Counter({
      name: "flagwright_conversion_value_total",
      help: "Sum of the optional value of conversion events, attributed to the user's variant.",
      labelNames: ["namespace", "flag", "variant", "event"],
      registers,
    });
  }

  /**
   * Counts an exposure of `user` to the result of evaluating `flag` in `document`. Only flags with
   * variants (the ones an experiment can compare) count, so plain on/off flags neither add series
   * nor crowd the set of seen users; errors and results without a variant are not exposures.
   */
  exposure(document: FlagDocument, flag: string, user: string, result: EvaluationDetails): void {
    // A rule that sends users to a fixed variant takes them out of the experiment's comparison.
    const variant = experimentVariant(result);
    if (variant === undefined) return;
    if (document.flags[flag]?.variants === undefined) return;
    const namespace = document.namespace;
    if (this.mode === "first" && !this.#seenExposures.add(`${flag}\0${user}`)) return;
    this.#exposures.inc({ namespace, flag, variant });
  }

  /** Counts a conversion; false when it was a repeat (mode first) and not counted. */
  conversion(
    namespace: string,
    flag: string,
    variant: string,
    user: string,
    event: string,
    value?: number,
  ): boolean {
    if (this.mode === "first" && !this.#seenConversions.add(`${flag}\0${event}\0${user}`)) return false;
    this.#conversions.inc({ namespace, flag, variant, event });
    if (value !== undefined && Number.isFinite(value) && value >= 0) {
      this.#values.inc({ namespace, flag, variant, event }, value);
    }
    return true;
  }
}

// Event names become a label: kept to a bounded, metric-friendly alphabet.
const EVENT_NAME = /^[A-Za-z0-9_.:-]+$/;

/** Whether a conversion event name may become a label value. */
export function isEventName(name: string): boolean {
  return EVENT_NAME.test(name);
}

export interface TrackRequest {
  flag: string;
  targetingKey: string;
  event: string;
  value?: number;
  /** The evaluation context's other attributes, for flags whose rules read them. */
  context?: Record<string, unknown>;
}

/** Validates a /track body; returns the request or a message naming the bad field. */
export function parseTrackRequest(body: unknown): TrackRequest | string {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return "body must be a JSON object";
  const b = body as Record<string, unknown>;
  for (const field of ["flag", "targetingKey", "event"] as const) {
    const v = b[field];
    if (typeof v !== "string" || v === "") return `${field} must be a non-empty string`;
    if (v.length > 256) return `${field} must be at most 256 characters`;
  }
  if (!isEventName(b.event as string)) return "event may contain only letters, digits, '_', '.', ':' and '-'";
  if (b.value !== undefined && (typeof b.value !== "number" || !Number.isFinite(b.value))) {
    return "value must be a finite number";
  }
  const request: TrackRequest = {
    flag: b.flag as string,
    targetingKey: b.targetingKey as string,
    event: b.event as string,
  };
  if (typeof b.value === "number") request.value = b.value;
  if (b.context !== undefined) {
    if (b.context === null || typeof b.context !== "object" || Array.isArray(b.context))
      return "context must be a JSON object";
    request.context = b.context as Record<string, unknown>;
  }
  return request;
}
