// In-process OpenFeature server provider: evaluates the same resolved document the sidecar serves,
// with the same core, so an application can skip the HTTP hop. It follows the document file (a
// mounted ConfigMap volume works, including the kubelet's atomic ..data swap) and emits
// PROVIDER_CONFIGURATION_CHANGED when a new document starts serving.
//
//   import { OpenFeature } from "@openfeature/server-sdk";
//   import { FlagwrightProvider } from "flagwright/provider";
//   await OpenFeature.setProviderAndWait(new FlagwrightProvider({ path: "/etc/flagwright" }));
import {
  type EvaluationContext,
  FlagNotFoundError,
  GeneralError,
  InvalidContextError,
  type JsonValue,
  OpenFeatureEventEmitter,
  type Provider,
  ProviderEvents,
  type ResolutionDetails,
  TargetingKeyMissingError,
  type TrackingEventDetails,
  TypeMismatchError,
} from "@openfeature/server-sdk";
import {
  type CompiledDocument,
  compileDocument,
  evaluate,
  type FlagDocument,
  parseDocument,
  servedBySplit,
} from "../core/index.js";
import type { ExperimentCounters } from "../sidecar/experiment-counters.js";
import { FileSource } from "../sidecar/file-source.js";

export interface FlagwrightProviderOptions {
  /** Mounted ConfigMap volume directory or document file to follow. */
  path?: string;
  /** File name inside a directory path. Default: flags.json. */
  key?: string;
  /** Safety-net re-read interval; default 5000 ms, 0 disables. */
  pollIntervalMs?: number;
  /** A fixed document instead of a file (tests, or documents obtained another way). */
  document?: FlagDocument | string;
  /** Called when a new document is unreadable or malformed; the last good one keeps serving. */
  onDocumentError?: (error: Error) => void;
  /**
   * Experiment counters (flagwright_exposures_total, flagwright_conversions_total) on the
   * application's prom-client registry: `new ExperimentCounters(registry)`. Conversions come from
   * OpenFeature's tracking API: `client.track("purchase", { targetingKey }, { flag: "banner", value: 12 })`.
   */
  experiments?: ExperimentCounters;
}

export class FlagwrightProvider implements Provider {
  readonly metadata = { name: "flagwright" } as const;
  readonly runsOn = "server";
  readonly events = new OpenFeatureEventEmitter();
  readonly #opts: FlagwrightProviderOptions;
  #compiled: CompiledDocument | undefined;
  #text: string | undefined;
  #source: FileSource | undefined;
  #initialized = false;

  constructor(options: FlagwrightProviderOptions) {
    if ((options.path === undefined) === (options.document === undefined)) {
      throw new Error("FlagwrightProvider needs exactly one of `path` or `document`");
    }
    this.#opts = options;
    if (options.document !== undefined) {
      const doc =
        typeof options.document === "string"
          ? parseDocument(options.document)
          : parseDocument(options.document);
      this.#compiled = compileDocument(doc);
    }
  }

  /** The document being served, if any. */
  get document(): FlagDocument | undefined {
    return this.#compiled?.document;
  }

  async initialize(): Promise<void> {
    if (this.#opts.path !== undefined && this.#source === undefined) {
      this.#source = new FileSource({
        path: this.#opts.path,
        key: this.#opts.key,
        pollIntervalMs: this.#opts.pollIntervalMs,
        onText: (text) => this.#offer(text),
        onError: (error) => this.#opts.onDocumentError?.(error),
      });
      await this.#source.start();
    }
    this.#initialized = true;
    // Without a document the SDK marks the provider ERROR; a later good load emits READY.
    if (this.#compiled === undefined) throw new GeneralError(`no valid flag document at ${this.#opts.path}`);
  }

  async onClose(): Promise<void> {
    await this.#source?.stop();
    this.#source = undefined;
  }

  #offer(text: string): void {
    if (text === this.#text) return;
    let next: CompiledDocument;
    try {
      next = compileDocument(parseDocument(text));
    } catch (error) {
      this.#opts.onDocumentError?.(error as Error);
      return;
    }
    const previous = this.#compiled;
    this.#compiled = next;
    this.#text = text;
    if (previous === undefined) {
      if (this.#initialized) this.events.emit(ProviderEvents.Ready);
      return;
    }
    const changed = new Set<string>();
    for (const [key, flag] of Object.entries(next.document.flags)) {
      if (previous.document.flags[key]?.revision !== flag.revision) changed.add(key);
    }
    for (const key of Object.keys(previous.document.flags))
      if (!(key in next.document.flags)) changed.add(key);
    this.events.emit(ProviderEvents.ConfigurationChanged, {
      flagsChanged: [...changed],
      metadata: { revision: next.document.revision },
    });
  }

  #resolve<T extends JsonValue>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
  ): ResolutionDetails<T> {
    const compiled = this.#compiled;
    if (compiled === undefined) throw new GeneralError("no flag document loaded");
    const r = evaluate(compiled, flagKey, context);
    if (this.#opts.experiments !== undefined && typeof context.targetingKey === "string") {
      this.#opts.experiments.exposure(compiled.document, flagKey, context.targetingKey, r);
    }
    switch (r.errorCode) {
      case undefined:
        break;
      case "FLAG_NOT_FOUND":
        throw new FlagNotFoundError(r.errorMessage);
      case "TARGETING_KEY_MISSING":
        throw new TargetingKeyMissingError(r.errorMessage);
      case "INVALID_CONTEXT":
        throw new InvalidContextError(r.errorMessage);
      default:
        throw new GeneralError(r.errorMessage);
    }
    // The core's reasons are the ones the sidecar sends over OFREP, so both report the same.
    const details: ResolutionDetails<T> = {
      value: defaultValue,
      reason: r.reason,
      flagMetadata: r.flagMetadata ?? {},
    };
    if (r.variant !== undefined) details.variant = r.variant;
    // Same rule as the OFREP provider, so in-process and sidecar answers agree.
    if (typeof r.value !== typeof defaultValue) {
      throw new TypeMismatchError(`flag "${flagKey}" is ${typeof r.value}, not ${typeof defaultValue}`);
    }
    details.value = r.value as T;
    return details;
  }

  /**
   * OpenFeature tracking: a conversion event for the flag named in the details (`flag`), attributed
   * to the variant the user is assigned now. Events without a flag or targeting key, or for users
   * without a variant or whom a rule serves a fixed variant, are ignored (track never throws).
   */
  track(eventName: string, context: EvaluationContext, details: TrackingEventDetails = {}): void {
    const counters = this.#opts.experiments;
    const compiled = this.#compiled;
    const flag = details.flag;
    const user = context.targetingKey;
    if (
      counters === undefined ||
      compiled === undefined ||
      typeof flag !== "string" ||
      typeof user !== "string"
    ) {
      return;
    }
    if (!/^[A-Za-z0-9_.:-]+$/.test(eventName)) return;
    // The whole context: a rule may have sent this user to a fixed variant, outside the experiment.
    const r = evaluate(compiled, flag, context);
    if (r.errorCode !== undefined || r.variant === undefined || !servedBySplit(r)) return;
    counters.conversion(compiled.document.namespace, flag, r.variant, user, eventName, details.value);
  }

  async resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext) {
    return this.#resolve(flagKey, defaultValue, context);
  }

  async resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext) {
    return this.#resolve(flagKey, defaultValue, context);
  }

  async resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext) {
    return this.#resolve(flagKey, defaultValue, context);
  }

  async resolveObjectEvaluation<T extends JsonValue>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
  ) {
    return this.#resolve(flagKey, defaultValue, context);
  }
}
