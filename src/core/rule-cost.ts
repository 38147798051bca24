// What a rule may cost: a static estimate checked when an expression compiles (after Kubernetes'
// CEL cost model) and a budget enforced while it runs, so no rule and no evaluation context can
// hold a sidecar's event loop.
//
// The estimate walks cel-js's checked AST (macros expanded into comprehensions). Every node costs
// 1; a comprehension costs its range's size times its body; string functions cost a tenth of the
// string's size (matches: size times pattern length, as Kubernetes charges regexes). Sizes of
// what the context supplies are bounded by the largest body a sidecar reads (64 KiB): a string of
// up to 65,536 characters, a list of up to 32,768 elements; elements of a context list share that
// size, so iterating one costs its length times the body plus the string work once.
//
// At run time each comprehension step and each character handed to `matches` is counted, and the
// process's CPU time is read every few steps; past any limit the evaluation stops and the rule
// does not match.

/** The estimated cost above which a rule is refused (Kubernetes' per-expression limit). */
export const RULE_COST_LIMIT = 1_000_000;
/** Longest string an evaluation context can carry (the sidecar reads bodies up to 64 KiB). */
export const CONTEXT_STRING_BOUND = 65_536;
/** Most elements a list in an evaluation context can have (each element takes two bytes or more). */
export const CONTEXT_LIST_BOUND = 32_768;

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

const STRING_COST_FACTOR = 0.1;

/** A node of cel-js's AST, as far as the estimate and the budget read it. */
export interface CelNode {
  op: string;
  args: unknown;
  start: number;
  readonly meta: {
    alternate?: CelNode;
    macro?: { var?: string; val?: CelNode; exp?: CelNode; args?: unknown };
    evaluate: (ev: unknown, ast: CelNode, ctx: unknown) => unknown;
  };
  evaluate: (ev: unknown, ast: CelNode, ctx: unknown) => unknown;
}

interface ComprehensionArgs {
  condition?: (accu: unknown) => boolean;
  iterable: CelNode;
  iterVarName: string;
  init: CelNode;
  step: CelNode;
}

export function isCelNode(value: unknown): value is CelNode {
  return typeof value === "object" && value !== null && "op" in value && "args" in value;
}

/**
 * Deepest nesting an expression may have. The estimate and the other compile-time walks recurse
 * once per level, and a 4,096-character expression can nest about 2,000 levels (`1+1+...+1`),
 * past what the stack holds; no rule a person writes comes near this (a long list of alternatives
 * reads better as `x in [...]`).
 */
export const RULE_NESTING_LIMIT = 250;

/**
 * How deeply an expression nests, counted through call and operator arguments. Iterative, so it
 * can guard the recursive walks; each node is visited once.
 */
export function nestingDepth(ast: CelNode): number {
  let deepest = 0;
  const seen = new Set<CelNode>();
  const pending: [unknown, number][] = [[ast, 1]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, depth] = next;
    if (Array.isArray(value)) {
      for (const item of value) pending.push([item, depth]);
    } else if (isCelNode(value) && !seen.has(value)) {
      seen.add(value);
      if (depth > deepest) deepest = depth;
      pending.push([value.args, depth + 1]);
    }
  }
  return deepest;
}

/** The node a macro call stands for (a comprehension for all/exists/map/filter), or the node itself. */
function expanded(node: CelNode): CelNode {
  return node.meta.alternate ?? node;
}

/** Upper bounds of a value's size: characters if it is a string, elements if it is a list. */
interface Size {
  str: number;
  list: number;
  /** Sizes of the elements, if it is a list. */
  elem?: Size;
}

const CONTEXT_ELEMENT: Size = {
  str: Math.max(1, Math.ceil(CONTEXT_STRING_BOUND / CONTEXT_LIST_BOUND)),
  list: 1,
};
const CONTEXT_VALUE: Size = { str: CONTEXT_STRING_BOUND, list: CONTEXT_LIST_BOUND, elem: CONTEXT_ELEMENT };
const SCALAR: Size = { str: 0, list: 0 };

interface Estimate {
  cost: number;
  size: Size;
}

/** The costliest part of an over-budget expression: where it starts and what it was estimated at. */
export interface CostProblem {
  offset: number;
  cost: number;
}

const stringCost = (chars: number) => Math.ceil(chars * STRING_COST_FACTOR);

const sum = (a: Size, b: Size): Size => ({
  str: a.str + b.str,
  list: a.list + b.list,
  elem: a.elem ?? b.elem,
});

/**
 * Estimates an expression's worst-case cost; returns where it goes over RULE_COST_LIMIT (the
 * outermost comprehension over it, else the start), or undefined if it stays within.
 */
export function costProblem(ast: CelNode): CostProblem | undefined {
  let worst: CostProblem | undefined;
  const scopes: Map<string, Size>[] = [];
  const lookup = (name: string): Size | undefined => {
    for (let i = scopes.length - 1; i >= 0; i--) {
      const s = scopes[i]?.get(name);
      if (s !== undefined) return s;
    }
    return undefined;
  };
  const withVariable = <T>(name: string, size: Size, body: () => T): T => {
    scopes.push(new Map([[name, size]]));
    try {
      return body();
    } finally {
      scopes.pop();
    }
  };

  const estimate = (raw: CelNode, accu?: Size): Estimate => {
    const macro = raw.meta.macro;
    if (macro?.exp !== undefined && macro.val !== undefined && macro.var !== undefined) {
      const val = estimate(macro.val, accu);
      const exp = withVariable(macro.var, val.size, () => estimate(macro.exp as CelNode, accu));
      return { cost: 1 + val.cost + exp.cost, size: exp.size };
    }
    const node = expanded(raw);
    const many = (nodes: CelNode[]) => nodes.map((n) => estimate(n, accu));
    const total = (parts: Estimate[]) => parts.reduce((c, p) => c + p.cost, 0);
    switch (node.op) {
      case "value": {
        const v = node.args;
        if (typeof v === "string") return { cost: 0, size: { str: v.length, list: 0 } };
        return { cost: 0, size: SCALAR };
      }
      case "id":
        return { cost: 1, size: lookup(node.args as string) ?? CONTEXT_VALUE };
      case "accuValue":
      case "accuInc":
        return { cost: 1, size: accu ?? SCALAR };
      case "accuPush": {
        const item = estimate(node.args as CelNode, accu);
        return { cost: 1 + item.cost, size: { str: 0, list: accu?.list ?? 1, elem: item.size } };
      }
      case "list": {
        const items = many(node.args as CelNode[]);
        const elem = items.reduce<Size>(
          (m, i) => ({ str: Math.max(m.str, i.size.str), list: Math.max(m.list, i.size.list) }),
          SCALAR,
        );
        return { cost: 1 + total(items), size: { str: 0, list: items.length, elem } };
      }
      case "map": {
        const entries = (node.args as [CelNode, CelNode][]).flatMap((e) => many(e));
        return { cost: 1 + total(entries), size: SCALAR };
      }
      case ".":
      case ".?": {
        const [object] = node.args as [CelNode];
        const o = estimate(object, accu);
        // A field of something from the context is itself from the context.
        return { cost: 1 + o.cost, size: o.size === SCALAR ? SCALAR : CONTEXT_VALUE };
      }
      case "[]":
      case "[?]": {
        const [object, index] = many(node.args as CelNode[]) as [Estimate, Estimate];
        return { cost: 1 + object.cost + index.cost, size: object.size.elem ?? CONTEXT_VALUE };
      }
      case "comprehension": {
        const args = node.args as ComprehensionArgs;
        const range = estimate(args.iterable, accu);
        const init = estimate(args.init, accu);
        const steps = Math.max(range.size.list, 0);
        const elem = range.size.elem ?? CONTEXT_ELEMENT;
        const resultSize: Size = { str: 0, list: steps, elem: init.size.elem };
        const step = withVariable(args.iterVarName, elem, () => estimate(args.step, resultSize));
        const cost = 1 + range.cost + init.cost + steps * (1 + step.cost);
        const size: Size =
          step.size.list > 0 ? { str: 0, list: steps, elem: step.size.elem ?? elem } : step.size;
        if (cost > RULE_COST_LIMIT) worst = { offset: raw.start, cost };
        return { cost, size };
      }
      case "rcall": {
        const [method, receiver, args] = node.args as [string, CelNode, CelNode[]];
        const r = estimate(receiver, accu);
        const a = many(args);
        const base = 1 + r.cost + total(a);
        switch (method) {
          case MATCHES_FUNCTION:
          case "matches":
            return { cost: base + stringCost(r.size.str) * Math.max(1, a[0]?.size.str ?? 1), size: SCALAR };
          case "contains":
          case "startsWith":
          case "endsWith":
          case "lower":
          case "upper":
          case "trim":
          case "lowerAscii":
          case "upperAscii":
            return { cost: base + stringCost(r.size.str), size: { str: r.size.str, list: 0 } };
          case "split":
            return {
              cost: base + stringCost(r.size.str),
              size: { str: 0, list: r.size.str + 1, elem: { str: r.size.str, list: 0 } },
            };
          case "join":
            return {
              cost: base + stringCost(r.size.list * ((r.size.elem?.str ?? 0) + (a[0]?.size.str ?? 0))),
              size: { str: r.size.list * ((r.size.elem?.str ?? 0) + (a[0]?.size.str ?? 0)), list: 0 },
            };
          default:
            return { cost: base, size: SCALAR };
        }
      }
      case "call": {
        const [, args] = node.args as [string, CelNode[]];
        const a = many(args);
        return { cost: 1 + total(a) + a.reduce((c, p) => c + stringCost(p.size.str), 0), size: SCALAR };
      }
      case "+": {
        const [l, r] = many(node.args as CelNode[]) as [Estimate, Estimate];
        const size = sum(l.size, r.size);
        return { cost: 1 + l.cost + r.cost + stringCost(size.str) + size.list, size };
      }
      case "in": {
        const [l, r] = many(node.args as CelNode[]) as [Estimate, Estimate];
        return { cost: 1 + l.cost + r.cost + r.size.list, size: SCALAR };
      }
      case "==":
      case "!=":
      case "<":
      case "<=":
      case ">":
      case ">=": {
        const [l, r] = many(node.args as CelNode[]) as [Estimate, Estimate];
        const compared = Math.min(l.size.str, r.size.str) + Math.min(l.size.list, r.size.list);
        return { cost: 1 + l.cost + r.cost + stringCost(compared), size: SCALAR };
      }
      case "?:": {
        const [c, t, f] = many(node.args as CelNode[]) as [Estimate, Estimate, Estimate];
        const size: Size = {
          str: Math.max(t.size.str, f.size.str),
          list: Math.max(t.size.list, f.size.list),
          elem: t.size.elem ?? f.size.elem,
        };
        return { cost: 1 + c.cost + Math.max(t.cost, f.cost), size };
      }
      default: {
        const children = Array.isArray(node.args)
          ? (node.args as unknown[]).filter(isCelNode)
          : isCelNode(node.args)
            ? [node.args]
            : [];
        return { cost: 1 + total(many(children)), size: SCALAR };
      }
    }
  };

  const { cost } = estimate(ast);
  if (cost <= RULE_COST_LIMIT) return undefined;
  return worst ?? { offset: ast.start, cost };
}

// ---- Run-time budget ----

/** The name `matches` calls are compiled to, so they run on RE2 (cel-js's own `matches` is JavaScript's RegExp). */
export const MATCHES_FUNCTION = "matchesRe2";

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
