// The run-time budget of rule evaluation (the static estimate is in rule-cost.ts): each
// comprehension step and each character handed to `matches` is counted, and the process's CPU time
// is read every few steps; past any limit the evaluation stops and the rule does not match.

import { type CelNode, type ComprehensionArgs, isCelNode } from "./rule-cost.js";

/** Comprehension steps one evaluation of one expression may take. */
export const RULE_STEP_LIMIT = 50_000;
/** Characters one evaluation may hand to `matches` in all (RE2 is linear in them). */
export const RULE_MATCH_CHARS_LIMIT = 16_384;
/** CPU time one evaluation may take, read every STEPS_PER_CLOCK_READ steps or matches calls. */
export const RULE_TIME_LIMIT_MS = 5;
/**
 * The limits for a flag whose rules ran out of budget in the last RULE_PENALTY_EVALUATIONS of its
 * evaluations, a hundredth of the usual: a flood of contexts that make a rule run away then costs
 * the sidecar a fraction of a millisecond per request rather than five, so the requests queued
 * behind them (other flags, probes) wait that much less.
 */
export const RULE_PENALTY_EVALUATIONS = 1000;
const PENALTY_DIVISOR = 100;
const STEPS_PER_CLOCK_READ = 64;
const PENALIZED_STEPS_PER_CLOCK_READ = 8;

/** Thrown inside an evaluation that ran out of budget; one shared instance, so throwing allocates nothing. */
export const BUDGET_EXCEEDED = new Error("rule evaluation budget exceeded");

/** Why the last evaluation stopped, or undefined while it is within budget. */
export type BudgetReason = "steps" | "time" | "match_input";

/**
 * One flag evaluation's budget, shared by all the expressions it runs (its rules, their segments,
 * its prerequisites'), so a flag with many costly rules costs no more than one. Evaluations are
 * synchronous, so one module-level budget serves them all.
 */
const budget = {
  steps: 0,
  matchChars: 0,
  ticks: 0,
  deadline: 0,
  exceeded: undefined as BudgetReason | undefined,
  reported: false,
  stepLimit: RULE_STEP_LIMIT,
  matchCharsLimit: RULE_MATCH_CHARS_LIMIT,
  timeLimitMs: RULE_TIME_LIMIT_MS,
  clockMask: STEPS_PER_CLOCK_READ - 1,
};

/** Starts the budget of one flag evaluation; `penalized` gives it a hundredth of the usual limits. */
export function beginBudget(penalized = false): void {
  const divisor = penalized ? PENALTY_DIVISOR : 1;
  budget.stepLimit = RULE_STEP_LIMIT / divisor;
  budget.matchCharsLimit = RULE_MATCH_CHARS_LIMIT / divisor;
  budget.timeLimitMs = RULE_TIME_LIMIT_MS / divisor;
  // A step can cost tens of microseconds (a long list copied): the short limit needs a finer clock.
  budget.clockMask = (penalized ? PENALIZED_STEPS_PER_CLOCK_READ : STEPS_PER_CLOCK_READ) - 1;
  budget.steps = 0;
  budget.matchChars = 0;
  budget.ticks = 0;
  budget.deadline = 0;
  budget.exceeded = undefined;
  budget.reported = false;
}

/** True once the current evaluation has run out of budget: what is left of it does not match. */
export function budgetSpent(): boolean {
  return budget.exceeded !== undefined;
}

/** Why the current evaluation ran out of budget, the first time it is asked (to report it once). */
export function takeBudgetExceeded(): BudgetReason | undefined {
  if (budget.exceeded === undefined || budget.reported) return undefined;
  budget.reported = true;
  return budget.exceeded;
}

/** CPU time of this process in ms: unlike the wall clock, it does not run on while the scheduler runs other processes. */
function cpuMs(): number {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
}

/** Reads the clock on the first of every STEPS_PER_CLOCK_READ charges (reading it costs microseconds). */
function checkClock(): void {
  if ((++budget.ticks & budget.clockMask) !== 1) return;
  const now = cpuMs();
  if (budget.deadline === 0) budget.deadline = now + budget.timeLimitMs;
  else if (now > budget.deadline) budget.exceeded = "time";
}

/** Counts one comprehension step; true once the evaluation is out of budget. */
function chargeStep(): boolean {
  if (budget.exceeded !== undefined) return true;
  if (++budget.steps > budget.stepLimit) budget.exceeded = "steps";
  else checkClock();
  return budget.exceeded !== undefined;
}

/** Charges the characters one `matches` call is about to scan. */
export function chargeMatch(chars: number): void {
  if (budget.exceeded === undefined) {
    budget.matchChars += chars;
    if (budget.matchChars > budget.matchCharsLimit) budget.exceeded = "match_input";
    else checkClock();
  }
  if (budget.exceeded !== undefined) throw BUDGET_EXCEEDED;
}

/**
 * Makes every comprehension step of a checked AST charge the budget. Must run after type-checking,
 * which settles how each node evaluates.
 */
export function instrumentComprehensions(ast: CelNode): void {
  const seen = new Set<CelNode>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const v of value) visit(v);
      return;
    }
    if (!isCelNode(value) || seen.has(value)) return;
    seen.add(value);
    const meta = value.meta;
    if (meta.alternate) visit(meta.alternate);
    if (meta.macro) {
      visit(meta.macro.val);
      visit(meta.macro.exp);
      visit(meta.macro.args);
    }
    if (value.op === "comprehension") {
      const args = value.args as ComprehensionArgs;
      visit(args.iterable);
      visit(args.init);
      visit(args.step);
      chargeOnEvaluate(args.step, stopValue(args.condition));
      return;
    }
    if (Array.isArray(value.args)) visit(value.args);
    else visit(value.args);
  };
  visit(ast);
}

/**
 * The accumulator value that ends a quantifier's loop (false for all, true for exists). Quantifiers
 * carry on past a failing step, so once the budget is spent their steps return this instead of
 * throwing: thousands of throws would cost more than the budget allows.
 */
function stopValue(condition: ((accu: unknown) => boolean) | undefined): boolean | undefined {
  if (condition === undefined) return undefined;
  if (!condition(false)) return false;
  if (!condition(true)) return true;
  return undefined;
}

/** Wraps a node's evaluation with a step charge, dispatching as cel-js's ASTNode.evaluate does. */
function chargeOnEvaluate(node: CelNode, stop: boolean | undefined): void {
  const meta = node.meta;
  const alternate = meta.alternate;
  const macro = meta.macro as CelNode | undefined;
  const inner = meta.evaluate;
  const spent = () => {
    if (stop !== undefined) return stop;
    throw BUDGET_EXCEEDED;
  };
  node.evaluate = alternate
    ? (ev, _ast, ctx) => (chargeStep() ? spent() : alternate.evaluate(ev, alternate, ctx))
    : macro
      ? (ev, _ast, ctx) => (chargeStep() ? spent() : macro.evaluate(ev, macro, ctx))
      : (ev, ast, ctx) => (chargeStep() ? spent() : inner(ev, ast, ctx));
}
