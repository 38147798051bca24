// Flag evaluation: the seed article's rule order, on the resolved document.
//
// Hot path design: everything that does not depend on the user is computed once per document
// (compileDocument, cached in a WeakMap keyed by the frozen document), including every possible
// result object and the encoded hash prefixes. An evaluation therefore allocates nothing.
// What a document compiles to is in compile.ts; the result objects in results.ts.
import {
  type CompiledDocument,
  type CompiledFlag,
  type CompiledRule,
  type CompiledSegment,
  type CompiledTargeting,
  compileDocumentWith,
  MAX_PREREQUISITE_DEPTH,
} from "./compile.js";
import { type FlagDocument, parseDocument } from "./document.js";
import { fineFromMod } from "./hash.js";
import { type EvaluationDetails, type FlagMetadata, OFF_VARIANT } from "./results.js";
import { type BudgetReason, beginBudget, RULE_PENALTY_EVALUATIONS } from "./rule-budget.js";

export { type CompiledDocument, MAX_PREREQUISITE_DEPTH } from "./compile.js";
export {
  type ErrorCode,
  type EvaluationDetails,
  type FlagMetadata,
  OFF_VARIANT,
  ON_VARIANT,
  type Reason,
  servedBySplit,
} from "./results.js";

/** The targeting key buckets users; rules (spec.rules[].when) read any other attribute. */
export interface EvaluationContext {
  targetingKey?: unknown;
  [attribute: string]: unknown;
}

/** Precomputes per-flag lookups; evaluate() does this once per document on its own. */
export function compileDocument(document: FlagDocument): CompiledDocument {
  return compileDocumentWith(document, reportBudgetExceeded);
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
