// Flag evaluation: the seed article's rule order, on the resolved document.
//
// Hot path design: everything that does not depend on the user is computed once per document
// (compileDocument, cached in a WeakMap keyed by the frozen document), including every possible
// result object and the encoded hash prefixes. An evaluation therefore allocates nothing.
import { type FlagDocument, parseDocument, type ResolvedFlag, type ResolvedSegment } from "./document.js";
import { fineFromMod, percentThreshold } from "./hash.js";
import { type BudgetReason, RULE_PENALTY_EVALUATIONS } from "./rule-budget.js";
import { beginBudget, type CompiledExpression, compileExpression } from "./rules.js";
import { HashPrefix } from "./sha256.js";

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

/** The targeting key buckets users; rules (spec.rules[].when) read any other attribute. */
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
  /** Prerequisites and rules; undefined for a flag without either (the seed's path, untouched). */
  readonly targeting?: CompiledTargeting;
}

interface CompiledSegment {
  readonly included: ReadonlySet<string>;
  readonly excluded: ReadonlySet<string>;
  readonly when?: CompiledExpression;
}

interface CompiledRule {
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

interface CompiledTargeting {
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

/** Prerequisite chains longer than this evaluate to an error (the operator refuses cycles). */
export const MAX_PREREQUISITE_DEPTH = 8;

// Results whose variant came from the weighted split; experiments count only these as exposures.
const splitResults = new WeakSet<EvaluationDetails>();

/**
 * True when the variant of this result came from the weighted variant split (the default rollout,
 * the allow-list, or a rule that serves on), not from a rule that serves a fixed variant.
 */
export function servedBySplit(result: EvaluationDetails): boolean {
  return splitResults.has(result);
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

function compileFlag(
  key: string,
  flag: ResolvedFlag,
  documentRevision: string,
  segments: ReadonlyMap<string, CompiledSegment>,
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
  const targeted = onResults("TARGETING_MATCH");
  const splitOn = onResults("SPLIT");
  if (hasVariants) for (const r of [...targeted, ...splitOn]) splitResults.add(r);
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
    staticOn: onResults("STATIC"),
    // At 100 % a variant flag still splits users between variants, so its reason is SPLIT.
    splitOn,
    ...(flag.rules?.length || flag.prerequisites?.length
      ? { targeting: compileTargeting(flag, meta, offFor, segments) }
      : {}),
  };
}

type OffResults = (reason: Reason, flagMetadata: FlagMetadata, why: string) => EvaluationDetails;

/**
 * The off result for a reason, or, for a variant flag without defaultValue, an error naming the
 * flag and why it is off: there is no value to serve, so the caller's default applies. GENERAL,
 * because OpenFeature has no closer code (the flag exists, the context is fine, no type is wrong).
 */
function offResults(key: string, offValue: unknown, offVariant: string | undefined): OffResults {
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

function compileTargeting(
  flag: ResolvedFlag,
  meta: FlagMetadata,
  offFor: OffResults,
  segments: ReadonlyMap<string, CompiledSegment>,
): CompiledTargeting {
  const variants = flag.variants ?? [];
  const rules = (flag.rules ?? []).map((rule): CompiledRule => {
    const ruleMeta: FlagMetadata = Object.freeze({ ...meta, rule: rule.name });
    const on = Object.freeze(
      variants.length > 0
        ? variants.map((v) =>
            result(v.value !== undefined ? v.value : v.name, v.name, "TARGETING_MATCH", ruleMeta),
          )
        : [result(true, ON_VARIANT, "TARGETING_MATCH", ruleMeta)],
    );
    if (variants.length > 0) for (const r of on) splitResults.add(r);
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
    if (rule.when !== undefined) compiledRule.when = compileExpression(rule.when, reportBudgetExceeded);
    if (rule.segments?.length) {
      compiledRule.segments = rule.segments.map((name) => {
        const segment = segments.get(name);
        // parseDocument refuses a rule naming a segment the document lacks.
        if (segment === undefined) throw new Error(`segment "${name}" is not in the document`);
        return segment;
      });
    }
    return compiledRule;
  });
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

function compileSegment(segment: ResolvedSegment): CompiledSegment {
  const compiled: { -readonly [K in keyof CompiledSegment]: CompiledSegment[K] } = {
    included: new Set(segment.included),
    excluded: new Set(segment.excluded),
  };
  if (segment.when !== undefined) compiled.when = compileExpression(segment.when, reportBudgetExceeded);
  return compiled;
}

/** Precomputes per-flag lookups; evaluate() does this once per document on its own. */
export function compileDocument(document: FlagDocument): CompiledDocument {
  const segments = new Map<string, CompiledSegment>();
  for (const [name, segment] of Object.entries(document.segments ?? {}))
    segments.set(name, compileSegment(segment));
  const flags = new Map<string, CompiledFlag>();
  let dependsOn: CompiledDocument["dependsOn"] = "targetingKey";
  for (const [key, flag] of Object.entries(document.flags)) {
    const compiledFlag = compileFlag(key, flag, document.revision, segments);
    flags.set(key, compiledFlag);
    for (const rule of compiledFlag.targeting?.rules ?? []) {
      if (dependsOn !== "time") dependsOn = "context";
      if (rule.when?.usesNow || rule.segments?.some((s) => s.when?.usesNow)) dependsOn = "time";
    }
  }
  return { document, flags, dependsOn };
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
const emptyContext: EvaluationContext = Object.freeze({});
const wallClock = () => new Date();

function inSegment(
  segment: CompiledSegment,
  user: string | undefined,
  context: EvaluationContext,
  now: () => Date,
): boolean {
  if (user !== undefined) {
    if (segment.excluded.has(user)) return false;
    if (segment.included.has(user)) return true;
  }
  return segment.when?.matches(context, now) === true;
}

/** Hears of rules whose evaluation ran out of budget (and so did not match), with the flag evaluated. */
export type RuleBudgetListener = (flag: string, reason: BudgetReason) => void;
const budgetListeners = new Set<RuleBudgetListener>();
/** The flag whose rules are being evaluated: segments are shared, so their expressions cannot know it. */
let evaluatingFlag = "";
let evaluatingTargeting: CompiledTargeting | undefined;

/** Registers a listener for rule evaluations stopped by the run-time budget; returns its removal. */
export function onRuleBudgetExceeded(listener: RuleBudgetListener): () => void {
  budgetListeners.add(listener);
  return () => {
    budgetListeners.delete(listener);
  };
}

/**
 * Whether `flagKey`'s rules ran out of evaluation budget within its last RULE_PENALTY_EVALUATIONS
 * evaluations (and so run on the reduced budget now). Servers use it to keep such a flag's requests
 * from crowding out other flags' before they spend anything on them.
 */
export function overRuleBudget(document: FlagDocument | CompiledDocument, flagKey: string): boolean {
  const targeting = compiledFor(document).flags.get(flagKey)?.targeting;
  return targeting !== undefined && targeting.penalty > 0;
}

function reportBudgetExceeded(reason: BudgetReason): void {
  if (evaluatingTargeting !== undefined) evaluatingTargeting.penalty = RULE_PENALTY_EVALUATIONS;
  for (const listener of budgetListeners) listener(evaluatingFlag, reason);
}

function ruleMatches(
  rule: CompiledRule,
  user: string | undefined,
  context: EvaluationContext,
  now: () => Date,
): boolean {
  if (rule.segments !== undefined) {
    if (!rule.segments.some((segment) => inSegment(segment, user, context, now))) return false;
  }
  return rule.when === undefined || rule.when.matches(context, now);
}

/** Prerequisites, then rules in order; undefined when no rule matches (the default rollout decides). */
function evaluateTargeting(
  compiled: CompiledDocument,
  flag: CompiledFlag,
  targeting: CompiledTargeting,
  user: string | undefined,
  context: EvaluationContext,
  now: () => Date,
  depth: number,
): EvaluationDetails | undefined {
  if (targeting.prerequisites.length > 0) {
    if (depth >= MAX_PREREQUISITE_DEPTH) return targeting.tooDeep;
    for (const p of targeting.prerequisites) {
      const r = evaluateIn(compiled, p.flag, context, now, depth + 1);
      const on = r.errorCode === undefined && r.variant !== undefined && r.variant !== OFF_VARIANT;
      if (!on || (p.variant !== undefined && r.variant !== p.variant)) return p.failed;
    }
  }
  const variants = flag.cumulative.length > 0;
  evaluatingFlag = flag.key;
  evaluatingTargeting = targeting;
  for (const rule of targeting.rules) {
    if (!ruleMatches(rule, user, context, now)) continue;
    if (rule.fixed !== undefined) return rule.fixed;
    if (rule.threshold < 10000) {
      if (user === undefined) return flag.missingKey;
      if (rule.threshold <= 0 || fineFromMod(flag.rolloutPrefix.mod10000(user)) >= rule.threshold)
        return rule.off;
    }
    if (!variants) return rule.on[0] as EvaluationDetails;
    if (user === undefined) return flag.missingKey;
    return rule.on[pickVariant(flag, user)] as EvaluationDetails;
  }
  return undefined;
}

/**
 * Evaluates one flag for one context. Order (docs/evaluation.md): not found -> ERROR/FLAG_NOT_FOUND;
 * a targetingKey that is not a string -> ERROR/INVALID_CONTEXT; disabled or killed -> off
 * (DISABLED); allow-listed -> on (TARGETING_MATCH); a prerequisite not served -> off
 * (TARGETING_MATCH, metadata.prerequisite); the first matching rule -> what it serves
 * (TARGETING_MATCH, metadata.rule); then the default rollout: percent >= 100 -> on (STATIC; SPLIT
 * for a variant flag); percent 0 -> off (STATIC); no targeting key -> off
 * (ERROR/TARGETING_KEY_MISSING); fine bucket < percent -> on (SPLIT), else off (SPLIT). An off
 * answer of a variant flag without defaultValue is ERROR/GENERAL instead. `now` is the instant rules
 * see (default: the clock).
 */
export function evaluate(
  document: FlagDocument | CompiledDocument,
  flagKey: string,
  context: EvaluationContext | undefined,
  now: () => Date = wallClock,
): EvaluationDetails {
  return evaluateIn(compiledFor(document), flagKey, context, now, 0);
}

function evaluateIn(
  compiled: CompiledDocument,
  flagKey: string,
  context: EvaluationContext | undefined,
  now: () => Date,
  depth: number,
): EvaluationDetails {
  const flag = compiled.flags.get(flagKey);
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
  if (flag.targeting !== undefined) {
    // Prerequisites evaluate within their dependent's budget.
    if (depth === 0) {
      const targeting = flag.targeting;
      beginBudget(targeting.penalty > 0 && targeting.penalty-- > 0);
    }
    const targeted = evaluateTargeting(
      compiled,
      flag,
      flag.targeting,
      hasUser ? user : undefined,
      context ?? emptyContext,
      now,
      depth,
    );
    if (targeted !== undefined) return targeted;
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
