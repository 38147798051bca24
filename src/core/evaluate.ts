// Flag evaluation: the seed article's rule order, on the resolved document.
//
// Hot path design: everything that does not depend on the user is computed once per document
// (compileDocument, cached in a WeakMap keyed by the frozen document), including every possible
// result object and the encoded hash prefixes. An evaluation therefore allocates nothing.
import { type FlagDocument, parseDocument, type ResolvedFlag } from "./document.js";
import { fineFromMod, percentThreshold } from "./hash.js";
import { HashPrefix } from "./sha256.js";

export type Reason = "STATIC" | "TARGETING_MATCH" | "SPLIT" | "DISABLED" | "DEFAULT" | "ERROR";
export type ErrorCode =
  | "FLAG_NOT_FOUND"
  | "TARGETING_KEY_MISSING"
  | "INVALID_CONTEXT"
  | "TYPE_MISMATCH"
  | "PARSE_ERROR"
  | "GENERAL";
export type FlagMetadata = Readonly<Record<string, string | number | boolean>>;

/** OpenFeature-shaped resolution details. Results are shared and frozen: do not mutate them. */
export interface EvaluationDetails {
  /** The value served; `undefined` means "use the caller's default" (a variant flag that is off without defaultValue). */
  readonly value: unknown;
  readonly variant?: string;
  readonly reason: Reason;
  readonly errorCode?: ErrorCode;
  readonly errorMessage?: string;
  readonly flagMetadata?: FlagMetadata;
}

/** Only the targeting key matters to evaluation; other attributes are accepted and ignored. */
export interface EvaluationContext {
  targetingKey?: unknown;
  [attribute: string]: unknown;
}

/** Variant name of the on/off results of a flag without variants. */
export const ON_VARIANT = "on";
export const OFF_VARIANT = "off";

interface CompiledFlag {
  readonly key: string;
  /** "<key>:" and "<key>/variant:", encoded once (see HashPrefix). */
  readonly rolloutPrefix: HashPrefix;
  readonly variantPrefix: HashPrefix;
  readonly active: boolean;
  readonly threshold: number;
  readonly allowed: ReadonlySet<string>;
  /** Cumulative variant weights over fine buckets (0..10000); empty for a flag without variants. */
  readonly cumulative: Int32Array;
  readonly inactive: EvaluationDetails;
  /** Off for percent 0 (no hashing needed). */
  readonly off: EvaluationDetails;
  /** Off because the user's bucket is outside the rollout. */
  readonly splitOff: EvaluationDetails;
  readonly missingKey: EvaluationDetails;
  readonly invalidKey: EvaluationDetails;
  /** Per reason, per variant (index 0 for a flag without variants). */
  readonly targeted: readonly EvaluationDetails[];
  readonly staticOn: readonly EvaluationDetails[];
  readonly splitOn: readonly EvaluationDetails[];
}

export interface CompiledDocument {
  readonly document: FlagDocument;
  readonly flags: ReadonlyMap<string, CompiledFlag>;
}

function result(
  value: unknown,
  variant: string | undefined,
  reason: Reason,
  flagMetadata: FlagMetadata,
  errorCode?: ErrorCode,
  errorMessage?: string,
): EvaluationDetails {
  const r: { -readonly [K in keyof EvaluationDetails]: EvaluationDetails[K] } = {
    value,
    reason,
    flagMetadata,
  };
  if (variant !== undefined) r.variant = variant;
  if (errorCode !== undefined) r.errorCode = errorCode;
  if (errorMessage !== undefined) r.errorMessage = errorMessage;
  return Object.freeze(r);
}

function compileFlag(key: string, flag: ResolvedFlag, documentRevision: string): CompiledFlag {
  const meta: FlagMetadata = Object.freeze({ flagRevision: flag.revision, documentRevision });
  const variants = flag.variants ?? [];
  const hasVariants = variants.length > 0;
  // Off: defaultValue, else false for a plain flag; a variant flag without defaultValue defers to the
  // caller's default (value undefined; OFREP omits `value`, per the protocol's code-default ADR).
  const offValue = flag.defaultValue !== undefined ? flag.defaultValue : hasVariants ? undefined : false;
  const offVariant = hasVariants ? undefined : OFF_VARIANT;
  const killedMeta: FlagMetadata = flag.killed ? Object.freeze({ ...meta, killed: true }) : meta;

  const cumulative = new Int32Array(variants.length);
  let sum = 0;
  variants.forEach((v, i) => {
    sum += v.weight * 100;
    cumulative[i] = sum;
  });
  const onResults = (reason: Reason) =>
    Object.freeze(
      hasVariants
        ? variants.map((v) => result(v.value !== undefined ? v.value : v.name, v.name, reason, meta))
        : [result(true, ON_VARIANT, reason, meta)],
    );
  const threshold = percentThreshold(flag.percent);
  return {
    key,
    rolloutPrefix: new HashPrefix(`${key}:`),
    variantPrefix: new HashPrefix(`${key}/variant:`),
    active: flag.enabled && !flag.killed,
    threshold,
    allowed: new Set(flag.allowedUsers),
    cumulative,
    inactive: result(offValue, offVariant, "DISABLED", killedMeta),
    off: result(offValue, offVariant, "DEFAULT", meta),
    splitOff: result(offValue, offVariant, "SPLIT", meta),
    missingKey: result(
      offValue,
      offVariant,
      "ERROR",
      meta,
      "TARGETING_KEY_MISSING",
      `flag "${key}" needs a targeting key (the user id) to evaluate`,
    ),
    invalidKey: result(
      offValue,
      offVariant,
      "ERROR",
      meta,
      "INVALID_CONTEXT",
      `flag "${key}": targetingKey must be a string`,
    ),
    targeted: onResults("TARGETING_MATCH"),
    staticOn: onResults("STATIC"),
    // At 100 % a variant flag still splits users between variants, so its reason is SPLIT.
    splitOn: onResults("SPLIT"),
  };
}

/** Precomputes per-flag lookups; evaluate() does this once per document on its own. */
export function compileDocument(document: FlagDocument): CompiledDocument {
  const flags = new Map<string, CompiledFlag>();
  for (const [key, flag] of Object.entries(document.flags))
    flags.set(key, compileFlag(key, flag, document.revision));
  return { document, flags };
}

const compiled = new WeakMap<FlagDocument, CompiledDocument>();

function compiledFor(document: FlagDocument | CompiledDocument): CompiledDocument {
  if ("flags" in document && document.flags instanceof Map) return document as CompiledDocument;
  const doc = document as FlagDocument;
  let c = compiled.get(doc);
  if (c === undefined) {
    // Freeze first (parseDocument output already is): the cache relies on the document not changing.
    c = compileDocument(Object.isFrozen(doc) ? doc : parseDocument(doc));
    compiled.set(doc, c);
  }
  return c;
}

function pickVariant(flag: CompiledFlag, user: string): number {
  const v = fineFromMod(flag.variantPrefix.mod10000(user));
  const cum = flag.cumulative;
  for (let i = 0; i < cum.length; i++) if (v < (cum[i] as number)) return i;
  return cum.length - 1; // unreachable while weights add up to 100
}

const noFlagMeta: FlagMetadata = Object.freeze({});

/**
 * Evaluates one flag for one context. Rule order (the seed article's, see docs/evaluation.md):
 * not found -> ERROR/FLAG_NOT_FOUND; a targetingKey that is not a string -> ERROR/INVALID_CONTEXT; disabled or killed -> off (DISABLED); allow-listed -> on
 * (TARGETING_MATCH); percent >= 100 -> on (STATIC; SPLIT for a variant flag); percent 0 -> off
 * (DEFAULT); no targeting key -> off (ERROR/TARGETING_KEY_MISSING); fine bucket < percent -> on
 * (SPLIT), else off (SPLIT).
 */
export function evaluate(
  document: FlagDocument | CompiledDocument,
  flagKey: string,
  context: EvaluationContext | undefined,
): EvaluationDetails {
  const flag = compiledFor(document).flags.get(flagKey);
  if (flag === undefined) {
    return {
      value: undefined,
      reason: "ERROR",
      errorCode: "FLAG_NOT_FOUND",
      errorMessage: `flag "${flagKey}" not found`,
      flagMetadata: noFlagMeta,
    };
  }
  const user = context?.targetingKey;
  if (user !== undefined && user !== null && typeof user !== "string") return flag.invalidKey;
  if (!flag.active) return flag.inactive;
  const hasUser = typeof user === "string" && user !== "";
  const variants = flag.cumulative.length > 0;
  if (hasUser && flag.allowed.has(user)) {
    return flag.targeted[variants ? pickVariant(flag, user) : 0] as EvaluationDetails;
  }
  if (flag.threshold >= 10000) {
    if (!variants) return flag.staticOn[0] as EvaluationDetails;
    if (!hasUser) return flag.missingKey;
    return flag.splitOn[pickVariant(flag, user)] as EvaluationDetails;
  }
  if (flag.threshold <= 0) return flag.off;
  if (!hasUser) return flag.missingKey;
  const fine = fineFromMod(flag.rolloutPrefix.mod10000(user));
  if (fine >= flag.threshold) return flag.splitOff;
  return flag.splitOn[variants ? pickVariant(flag, user) : 0] as EvaluationDetails;
}
