// What a flag document compiles to for evaluation: per flag, everything that does not depend on the
// user (hash prefixes, thresholds, cumulative weights, compiled rules and segments, and every
// result it can return), so that evaluate.ts allocates nothing per evaluation.

import type { FlagDocument, ResolvedFlag, ResolvedSegment } from "./document.js";
import { percentThreshold } from "./hash.js";
import {
  type EvaluationDetails,
  type FlagMetadata,
  markSplit,
  OFF_VARIANT,
  type OffResults,
  offResults,
  onResults,
  result,
} from "./results.js";
import type { BudgetReason } from "./rule-budget.js";
import { type CompiledExpression, compileExpression } from "./rules.js";
import { HashPrefix } from "./sha256.js";

/** Prerequisite chains longer than this evaluate to an error (the operator refuses cycles). */
export const MAX_PREREQUISITE_DEPTH = 8;

export interface CompiledFlag {
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
  /** Prerequisites and rules; undefined for a flag without either (the seed's path, untouched). */
  readonly targeting?: CompiledTargeting;
}

export interface CompiledSegment {
  readonly included: ReadonlySet<string>;
  readonly excluded: ReadonlySet<string>;
  readonly when?: CompiledExpression;
}

export interface CompiledRule {
  readonly when?: CompiledExpression;
  readonly segments?: readonly CompiledSegment[];
  /** Fine-bucket threshold (0..10000) of serve.percent; 10000 for serve.enabled true. */
  readonly threshold: number;
  /** Served when the rule matches and serve is a fixed variant or off. */
  readonly fixed?: EvaluationDetails;
  /** Per variant (index 0 without variants): on results carrying metadata.rule. */
  readonly on: readonly EvaluationDetails[];
  /** Off for a matching user outside serve.percent. */
  readonly off: EvaluationDetails;
}

export interface CompiledTargeting {
  readonly prerequisites: readonly {
    readonly flag: string;
    readonly variant?: string;
    readonly failed: EvaluationDetails;
  }[];
  readonly rules: readonly CompiledRule[];
  readonly tooDeep: EvaluationDetails;
  /** Evaluations left on the reduced budget since the rules last ran out of budget. */
  penalty: number;
}

export interface CompiledDocument {
  readonly document: FlagDocument;
  readonly flags: ReadonlyMap<string, CompiledFlag>;
  /**
   * What results can depend on besides the document: the targeting key only (no rules), the whole
   * context (rules), or also the time (a rule or segment reads `now`). Caches (ETags) key on it.
   */
  readonly dependsOn: "targetingKey" | "context" | "time";
}

/** Hears that a rule's evaluation ran out of budget (rules.ts calls it; evaluate.ts reports it). */
export type BudgetExceededHandler = (reason: BudgetReason) => void;

/** Precomputes per-flag lookups; `onBudgetExceeded` is given to every compiled expression. */
export function compileDocumentWith(
  document: FlagDocument,
  onBudgetExceeded: BudgetExceededHandler,
): CompiledDocument {
  const segments = new Map<string, CompiledSegment>();
  for (const [name, segment] of Object.entries(document.segments ?? {}))
    segments.set(name, compileSegment(segment, onBudgetExceeded));
  const flags = new Map<string, CompiledFlag>();
  let dependsOn: CompiledDocument["dependsOn"] = "targetingKey";
  for (const [key, flag] of Object.entries(document.flags)) {
    const compiledFlag = compileFlag(key, flag, document.revision, { segments, onBudgetExceeded });
    flags.set(key, compiledFlag);
    for (const rule of compiledFlag.targeting?.rules ?? []) {
      if (dependsOn !== "time") dependsOn = "context";
      if (rule.when?.usesNow || rule.segments?.some((s) => s.when?.usesNow)) dependsOn = "time";
    }
  }
  return { document, flags, dependsOn };
}

/** What compiling a flag's targeting needs from the document. */
interface TargetingScope {
  readonly segments: ReadonlyMap<string, CompiledSegment>;
  readonly onBudgetExceeded: BudgetExceededHandler;
}

function compileFlag(
  key: string,
  flag: ResolvedFlag,
  documentRevision: string,
  scope: TargetingScope,
): CompiledFlag {
  const meta: FlagMetadata = Object.freeze({ flagRevision: flag.revision, documentRevision });
  const variants = flag.variants ?? [];
  const hasVariants = variants.length > 0;
  // Off: defaultValue, else false for a plain flag; a variant flag without defaultValue has no value
  // to serve (value undefined, and offFor answers an error saying so).
  const offValue = flag.defaultValue !== undefined ? flag.defaultValue : hasVariants ? undefined : false;
  const offVariant = hasVariants ? undefined : OFF_VARIANT;
  const killedMeta: FlagMetadata = flag.killed ? Object.freeze({ ...meta, killed: true }) : meta;
  const offFor = offResults(key, offValue, offVariant);
  const cumulative = cumulativeWeights(variants);
  const threshold = percentThreshold(flag.percent);
  const targeted = onResults(variants, "TARGETING_MATCH", meta);
  const splitOn = onResults(variants, "SPLIT", meta);
  if (hasVariants) markSplit([...targeted, ...splitOn]);
  return {
    key,
    rolloutPrefix: new HashPrefix(`${key}:`),
    variantPrefix: new HashPrefix(`${key}/variant:`),
    active: flag.enabled && !flag.killed,
    threshold,
    allowed: new Set(flag.allowedUsers),
    cumulative,
    inactive: offFor("DISABLED", killedMeta, flag.killed ? "killed" : "disabled"),
    // Percent 0 serves everyone the same off value, the mirror of percent 100's STATIC on.
    off: offFor("STATIC", meta, "rollout at 0 %"),
    splitOff: offFor("SPLIT", meta, "outside the rollout"),
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
    targeted,
    staticOn: onResults(variants, "STATIC", meta),
    // At 100 % a variant flag still splits users between variants, so its reason is SPLIT.
    splitOn,
    ...(flag.rules?.length || flag.prerequisites?.length
      ? { targeting: compileTargeting(flag, meta, offFor, scope) }
      : {}),
  };
}

/** Cumulative variant weights over fine buckets (0..10000). */
function cumulativeWeights(variants: readonly { weight: number }[]): Int32Array {
  const cumulative = new Int32Array(variants.length);
  let sum = 0;
  variants.forEach((v, i) => {
    sum += v.weight * 100;
    cumulative[i] = sum;
  });
  return cumulative;
}

function compileTargeting(
  flag: ResolvedFlag,
  meta: FlagMetadata,
  offFor: OffResults,
  scope: TargetingScope,
): CompiledTargeting {
  const rules = (flag.rules ?? []).map((rule) => compileRule(rule, flag, meta, offFor, scope));
  return {
    prerequisites: (flag.prerequisites ?? []).map((p) => ({
      ...p,
      // A prerequisite decides per context, like a rule: TARGETING_MATCH, with metadata.prerequisite.
      failed: offFor(
        "TARGETING_MATCH",
        Object.freeze({ ...meta, prerequisite: p.flag }),
        `prerequisite "${p.flag}" not served`,
      ),
    })),
    rules,
    tooDeep: result(
      undefined,
      undefined,
      "ERROR",
      meta,
      "GENERAL",
      `prerequisites nested deeper than ${MAX_PREREQUISITE_DEPTH} flags`,
    ),
    penalty: 0,
  };
}

function compileRule(
  rule: NonNullable<ResolvedFlag["rules"]>[number],
  flag: ResolvedFlag,
  meta: FlagMetadata,
  offFor: OffResults,
  scope: TargetingScope,
): CompiledRule {
  const variants = flag.variants ?? [];
  const ruleMeta: FlagMetadata = Object.freeze({ ...meta, rule: rule.name });
  const on = onResults(variants, "TARGETING_MATCH", ruleMeta);
  if (variants.length > 0) markSplit(on);
  const off = offFor("TARGETING_MATCH", ruleMeta, `rule "${rule.name}" serves off`);
  const { enabled, variant, percent } = rule.serve;
  let fixed: EvaluationDetails | undefined;
  if (enabled === false) fixed = off;
  if (variant !== undefined) {
    const v = variants.find((x) => x.name === variant);
    fixed = result(v?.value !== undefined ? v.value : variant, variant, "TARGETING_MATCH", ruleMeta);
  }
  const compiledRule: {
    -readonly [K in keyof CompiledRule]: CompiledRule[K];
  } = { threshold: percent !== undefined ? percentThreshold(percent) : 10000, on, off };
  if (fixed !== undefined) compiledRule.fixed = fixed;
  if (rule.when !== undefined) compiledRule.when = compileExpression(rule.when, scope.onBudgetExceeded);
  if (rule.segments?.length) {
    compiledRule.segments = rule.segments.map((name) => {
      const segment = scope.segments.get(name);
      // parseDocument refuses a rule naming a segment the document lacks.
      if (segment === undefined) throw new Error(`segment "${name}" is not in the document`);
      return segment;
    });
  }
  return compiledRule;
}

function compileSegment(segment: ResolvedSegment, onBudgetExceeded: BudgetExceededHandler): CompiledSegment {
  const compiled: { -readonly [K in keyof CompiledSegment]: CompiledSegment[K] } = {
    included: new Set(segment.included),
    excluded: new Set(segment.excluded),
  };
  if (segment.when !== undefined) compiled.when = compileExpression(segment.when, onBudgetExceeded);
  return compiled;
}
