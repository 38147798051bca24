// Flagwright's resolved flags -> flagd flag definitions (https://flagd.dev/reference/flag-definitions/),
// for running flagd on the same flags in the "sidecar vs flagd" benchmark.
//
// Answers that do not depend on hashing are the same in both: disabled and killed flags (off),
// allow-listed users (on), 0 % (off) and 100 % (on). Percentage rollouts and variant splits use
// flagd's `fractional` operator, which buckets on murmur3(flagKey + targetingKey) where Flagwright
// uses sha256("<key>:<user>"): the shares agree, the individual users in each bucket differ.
// Reasons differ too (flagd answers TARGETING_MATCH for anything its targeting rule decides).
import type { FlagDocument, ResolvedFlag } from "../src/core/index.js";

export interface FlagdFlag {
  state: "ENABLED" | "DISABLED";
  variants: Record<string, unknown>;
  defaultVariant: string;
  targeting?: unknown;
  metadata?: Record<string, string | number | boolean>;
}

export interface FlagdDefinition {
  $schema: string;
  flags: Record<string, FlagdFlag>;
  metadata?: Record<string, string | number | boolean>;
}

/** A flag flagd cannot express the way Flagwright evaluates it. */
export class TranslationError extends Error {
  constructor(
    readonly flagKey: string,
    reason: string,
  ) {
    super(`flag "${flagKey}": ${reason}`);
    this.name = "TranslationError";
  }
}

const OFF = "off";
const ON = "on";

// fractional weights are integers; percents have two decimals, so weigh in hundredths.
function fineWeight(percent: number): number {
  return Math.round(percent * 100);
}

function jsonType(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
}

/** `{"in": [targetingKey, [users]]}`: flagd's allow-list. */
function allowListed(users: readonly string[]) {
  return { in: [{ var: "targetingKey" }, [...users]] };
}

/** The rollout split: "on" for `percent` of users, bucketed on flagKey + targetingKey. */
function rollout(percent: number) {
  return {
    fractional: [
      [ON, fineWeight(percent)],
      [OFF, 10_000 - fineWeight(percent)],
    ],
  };
}

/**
 * The variant split, bucketed on "<flagKey>/variant:<targetingKey>" so that, as in Flagwright,
 * variant assignment is independent of rollout membership.
 */
function variantSplit(variants: NonNullable<ResolvedFlag["variants"]>) {
  return {
    fractional: [
      { cat: [{ var: "$flagd.flagKey" }, "/variant:", { var: "targetingKey" }] },
      ...variants.map((v) => [v.name, v.weight]),
    ],
  };
}

function translateFlag(key: string, flag: ResolvedFlag): FlagdFlag {
  const variants = flag.variants ?? [];
  const active = flag.enabled && !flag.killed;
  const fullyOn = flag.percent >= 100;
  const metadata = { flagRevision: flag.revision };

  if (variants.length === 0) {
    const offValue = flag.defaultValue !== undefined ? flag.defaultValue : false;
    if (typeof offValue !== "boolean") {
      // flagd types a flag by its default variant and answers bulk requests with TYPE_MISMATCH otherwise.
      throw new TranslationError(key, "a flag without variants needs a boolean defaultValue for flagd");
    }
    const result: FlagdFlag = {
      state: "ENABLED",
      variants: { [ON]: true, [OFF]: offValue },
      defaultVariant: OFF,
      metadata,
    };
    if (!active || flag.percent <= 0) {
      if (active && flag.allowedUsers.length > 0)
        result.targeting = { if: [allowListed(flag.allowedUsers), ON, OFF] };
      return result;
    }
    if (fullyOn) return { ...result, defaultVariant: ON };
    const split = rollout(flag.percent);
    result.targeting =
      flag.allowedUsers.length > 0 ? { if: [allowListed(flag.allowedUsers), ON, split] } : split;
    return result;
  }

  const values: Record<string, unknown> = {};
  for (const v of variants) {
    if (v.name === OFF)
      throw new TranslationError(key, `variant name "${OFF}" is reserved by the translation`);
    values[v.name] = v.value !== undefined ? v.value : v.name;
  }
  const canBeOff = !active || !fullyOn;
  if (canBeOff) {
    if (flag.defaultValue === undefined) {
      // Flagwright then answers without a value (the caller's default); flagd v0.13 has no such answer.
      throw new TranslationError(key, "a variant flag that can be off needs a defaultValue for flagd");
    }
    values[OFF] = flag.defaultValue;
  }
  const types = new Set(Object.values(values).map(jsonType));
  if (types.size > 1) {
    throw new TranslationError(
      key,
      `flagd needs every variant value of one type (got ${[...types].join(", ")})`,
    );
  }
  const defaultVariant = canBeOff ? OFF : (variants[0] as { name: string }).name;
  const result: FlagdFlag = { state: "ENABLED", variants: values, defaultVariant, metadata };
  if (!active) return result;
  const split = variantSplit(variants);
  if (fullyOn) {
    result.targeting = split;
  } else if (flag.percent <= 0) {
    if (flag.allowedUsers.length > 0) result.targeting = { if: [allowListed(flag.allowedUsers), split, OFF] };
  } else {
    const inRollout = { "==": [rollout(flag.percent), ON] };
    result.targeting =
      flag.allowedUsers.length > 0
        ? { if: [allowListed(flag.allowedUsers), split, inRollout, split, OFF] }
        : { if: [inRollout, split, OFF] };
  }
  return result;
}

/** The flagd flag definition file for a Flagwright document. Throws TranslationError for a flag flagd cannot express. */
export function toFlagd(document: FlagDocument): FlagdDefinition {
  const flags: Record<string, FlagdFlag> = {};
  for (const [key, flag] of Object.entries(document.flags)) flags[key] = translateFlag(key, flag);
  return {
    $schema: "https://flagd.dev/schema/v0/flags.json",
    flags,
    metadata: { documentRevision: document.revision },
  };
}
