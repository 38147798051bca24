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
import { attributeConversion } from "../core/attribution.js";
import { evaluate, type FlagDocument, parseDocument } from "../core/index.js";
import { FileSource } from "../source/file-source.js";
import { DocumentStore, type LoadedDocument } from "../source/store.js";
import { type ExperimentCounters, isEventName } from "../telemetry/experiment-counters.js";

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
  readonly #store = new DocumentStore();
  #source: FileSource | undefined;
  #initialized = false;

  constructor(options: FlagwrightProviderOptions) {
    if ((options.path === undefined) === (options.document === undefined)) {
      throw new Error("FlagwrightProvider needs exactly one of `path` or `document`");
    }
    this.#opts = options;
    this.#store.listen({
      loaded: (doc, previous) => this.#loaded(doc, previous),
      failed: (_kind, _origin, error) => this.#opts.onDocumentError?.(error),
    });
    const fixed = options.document;
    if (fixed !== undefined) {
      // Parsed here first so that a bad fixed document throws rather than being reported.
      parseDocument(fixed);
      this.#store.offer(typeof fixed === "string" ? fixed : JSON.stringify(fixed), "document");
    }
  }

  /** The document being served, if any. */
  get document(): FlagDocument | undefined {
    return this.#store.current?.document;
  }

  async initialize(): Promise<void> {
    if (this.#opts.path !== undefined && this.#source === undefined) {
      this.#source = new FileSource({
        path: this.#opts.path,
        key: this.#opts.key,
        pollIntervalMs: this.#opts.pollIntervalMs,
        onText: (text, origin) => this.#store.offer(text, origin),
        onError: (error, origin) => this.#store.fail("read", origin, error),
      });
      await this.#source.start();
    }
    this.#initialized = true;
    // Without a document the SDK marks the provider ERROR; a later good load emits READY.
    if (this.#store.current === undefined)
      throw new GeneralError(`no valid flag document at ${this.#opts.path}`);
  }

  async onClose(): Promise<void> {
    await this.#source?.stop();
    this.#source = undefined;
  }

  /** Emits READY for the first document (after initialize), CONFIGURATION_CHANGED for later ones. */
  #loaded(next: LoadedDocument, previous: LoadedDocument | undefined): void {
    if (previous === undefined) {
      if (this.#initialized) this.events.emit(ProviderEvents.Ready);
      return;
    }
    const changed = new Set<string>();
    const nextFlags = next.document.flags;
    const previousFlags = previous.document.flags;
    for (const [key, flag] of Object.entries(nextFlags)) {
      if (previousFlags[key]?.revision !== flag.revision) changed.add(key);
    }
    for (const key of Object.keys(previousFlags)) if (!(key in nextFlags)) changed.add(key);
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
    const loaded = this.#store.current;
    if (loaded === undefined) throw new GeneralError("no flag document loaded");
    const r = evaluate(loaded.compiled, flagKey, context);
    if (this.#opts.experiments !== undefined && typeof context.targetingKey === "string") {
      this.#opts.experiments.exposure(loaded.document, flagKey, context.targetingKey, r);
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
    const loaded = this.#store.current;
    const flag = details.flag;
    const user = context.targetingKey;
    if (
      counters === undefined ||
      loaded === undefined ||
      typeof flag !== "string" ||
      typeof user !== "string"
    ) {
      return;
    }
    if (!isEventName(eventName)) return;
    const { variant } = attributeConversion(loaded.compiled, flag, context);
    if (variant === undefined) return;
    counters.conversion(loaded.document.namespace, flag, variant, user, eventName, details.value);
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
