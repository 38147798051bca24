// The results an evaluation returns: their OpenFeature shape, and the builders that make them once
// per document (frozen and shared, so an evaluation allocates none).

/**
 * OpenFeature resolution reasons, kept to the ones OFREP lists for a success (STATIC,
 * TARGETING_MATCH, SPLIT, DISABLED) plus ERROR, which only failures carry (docs/reference.md,
 * "OFREP conformance"): the sidecar's OFREP answers and the in-process provider report the same.
 */
export type Reason = "STATIC" | "TARGETING_MATCH" | "SPLIT" | "DISABLED" | "ERROR";
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
  /** The value served; `undefined` only with an errorCode (the caller's default applies). */
  readonly value: unknown;
  readonly variant?: string;
  readonly reason: Reason;
  readonly errorCode?: ErrorCode;
  readonly errorMessage?: string;
  readonly flagMetadata?: FlagMetadata;
}

/** Variant name of the on/off results of a flag without variants. */
export const ON_VARIANT = "on";
export const OFF_VARIANT = "off";

// Results whose variant came from the weighted split; experiments count only these as exposures.
const splitResults = new WeakSet<EvaluationDetails>();

/**
 * True when the variant of this result came from the weighted variant split (the default rollout,
 * the allow-list, or a rule that serves on), not from a rule that serves a fixed variant.
 */
export function servedBySplit(result: EvaluationDetails): boolean {
  return splitResults.has(result);
}

/** Marks results whose variant the weighted split picks (see servedBySplit). */
export function markSplit(results: readonly EvaluationDetails[]): void {
  for (const r of results) splitResults.add(r);
}

export function result(
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

/** The on results for a reason: one per variant, or the single `true` of a flag without variants. */
export function onResults(
  variants: readonly { name: string; value?: unknown }[],
  reason: Reason,
  meta: FlagMetadata,
): readonly EvaluationDetails[] {
  return Object.freeze(
    variants.length > 0
      ? variants.map((v) => result(v.value !== undefined ? v.value : v.name, v.name, reason, meta))
      : [result(true, ON_VARIANT, reason, meta)],
  );
}

export type OffResults = (reason: Reason, flagMetadata: FlagMetadata, why: string) => EvaluationDetails;

/**
 * The off result for a reason, or, for a variant flag without defaultValue, an error naming the
 * flag and why it is off: there is no value to serve, so the caller's default applies. GENERAL,
 * because OpenFeature has no closer code (the flag exists, the context is fine, no type is wrong).
 */
export function offResults(key: string, offValue: unknown, offVariant: string | undefined): OffResults {
  return (reason, flagMetadata, why) =>
    offValue === undefined
      ? result(
          undefined,
          undefined,
          "ERROR",
          flagMetadata,
          "GENERAL",
          `flag "${key}" is off for this context (${why}) and has no defaultValue to serve: the caller's default applies (set spec.defaultValue)`,
        )
      : result(offValue, offVariant, reason, flagMetadata);
}
