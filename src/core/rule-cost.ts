// What a rule may cost: a static estimate checked when an expression compiles (after Kubernetes'
// CEL cost model), so no rule can hold a sidecar's event loop; rule-budget.ts enforces a budget
// while it runs.
//
// The estimate walks cel-js's checked AST (macros expanded into comprehensions). Every node costs
// 1; a comprehension costs its range's size times its body; string functions cost a tenth of the
// string's size (matches: size times pattern length, as Kubernetes charges regexes). Sizes of
// what the context supplies are bounded by the largest body a sidecar reads (64 KiB): a string of
// up to 65,536 characters, a list of up to 32,768 elements; elements of a context list share that
// size, so iterating one costs its length times the body plus the string work once.

/** The estimated cost above which a rule is refused (Kubernetes' per-expression limit). */
export const RULE_COST_LIMIT = 1_000_000;
/** Longest string an evaluation context can carry (the sidecar reads bodies up to 64 KiB). */
export const CONTEXT_STRING_BOUND = 65_536;
/** Most elements a list in an evaluation context can have (each element takes two bytes or more). */
export const CONTEXT_LIST_BOUND = 32_768;

/** The name `matches` calls are compiled to, so they run on RE2 (cel-js's own `matches` is JavaScript's RegExp). */
export const MATCHES_FUNCTION = "matchesRe2";

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

export interface ComprehensionArgs {
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
  const walk = new CostWalk();
  const { cost } = walk.estimate(ast);
  if (cost <= RULE_COST_LIMIT) return undefined;
  return walk.worst ?? { offset: ast.start, cost };
}

/** How one kind of node is estimated; `accu` is the size of the enclosing comprehension's result. */
type Estimator = (walk: CostWalk, node: CelNode, accu: Size | undefined, raw: CelNode) => Estimate;

/** One estimate's walk: the sizes of the comprehension variables in scope, and where it went over. */
class CostWalk {
  /** The last comprehension over the limit to finish: the outermost one. */
  worst: CostProblem | undefined;
  private readonly scopes: Map<string, Size>[] = [];

  estimate(raw: CelNode, accu?: Size): Estimate {
    const macro = raw.meta.macro;
    if (macro?.exp !== undefined && macro.val !== undefined && macro.var !== undefined) {
      const val = this.estimate(macro.val, accu);
      const exp = this.withVariable(macro.var, val.size, () => this.estimate(macro.exp as CelNode, accu));
      return { cost: 1 + val.cost + exp.cost, size: exp.size };
    }
    const node = expanded(raw);
    return (ESTIMATORS.get(node.op) ?? estimateChildren)(this, node, accu, raw);
  }

  many(nodes: CelNode[], accu: Size | undefined): Estimate[] {
    return nodes.map((n) => this.estimate(n, accu));
  }

  lookup(name: string): Size | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const s = this.scopes[i]?.get(name);
      if (s !== undefined) return s;
    }
    return undefined;
  }

  withVariable<T>(name: string, size: Size, body: () => T): T {
    this.scopes.push(new Map([[name, size]]));
    try {
      return body();
    } finally {
      this.scopes.pop();
    }
  }
}

const total = (parts: Estimate[]) => parts.reduce((c, p) => c + p.cost, 0);

const estimateValue: Estimator = (_walk, node) =>
  typeof node.args === "string"
    ? { cost: 0, size: { str: node.args.length, list: 0 } }
    : { cost: 0, size: SCALAR };

const estimateIdentifier: Estimator = (walk, node) => ({
  cost: 1,
  size: walk.lookup(node.args as string) ?? CONTEXT_VALUE,
});

const estimateAccumulator: Estimator = (_walk, _node, accu) => ({ cost: 1, size: accu ?? SCALAR });

const estimateAccumulatorPush: Estimator = (walk, node, accu) => {
  const item = walk.estimate(node.args as CelNode, accu);
  return { cost: 1 + item.cost, size: { str: 0, list: accu?.list ?? 1, elem: item.size } };
};

const estimateList: Estimator = (walk, node, accu) => {
  const items = walk.many(node.args as CelNode[], accu);
  const elem = items.reduce<Size>(
    (m, i) => ({ str: Math.max(m.str, i.size.str), list: Math.max(m.list, i.size.list) }),
    SCALAR,
  );
  return { cost: 1 + total(items), size: { str: 0, list: items.length, elem } };
};

const estimateMap: Estimator = (walk, node, accu) => {
  const entries = (node.args as [CelNode, CelNode][]).flatMap((e) => walk.many(e, accu));
  return { cost: 1 + total(entries), size: SCALAR };
};

const estimateField: Estimator = (walk, node, accu) => {
  const [object] = node.args as [CelNode];
  const o = walk.estimate(object, accu);
  // A field of something from the context is itself from the context.
  return { cost: 1 + o.cost, size: o.size === SCALAR ? SCALAR : CONTEXT_VALUE };
};

const estimateIndex: Estimator = (walk, node, accu) => {
  const [object, index] = walk.many(node.args as CelNode[], accu) as [Estimate, Estimate];
  return { cost: 1 + object.cost + index.cost, size: object.size.elem ?? CONTEXT_VALUE };
};

const estimateComprehension: Estimator = (walk, node, accu, raw) => {
  const args = node.args as ComprehensionArgs;
  const range = walk.estimate(args.iterable, accu);
  const init = walk.estimate(args.init, accu);
  const steps = Math.max(range.size.list, 0);
  const elem = range.size.elem ?? CONTEXT_ELEMENT;
  const resultSize: Size = { str: 0, list: steps, elem: init.size.elem };
  const step = walk.withVariable(args.iterVarName, elem, () => walk.estimate(args.step, resultSize));
  const cost = 1 + range.cost + init.cost + steps * (1 + step.cost);
  const size: Size = step.size.list > 0 ? { str: 0, list: steps, elem: step.size.elem ?? elem } : step.size;
  if (cost > RULE_COST_LIMIT) walk.worst = { offset: raw.start, cost };
  return { cost, size };
};

/** String methods that scan their receiver once and return a string of its size at most. */
const SCANNING_METHODS: ReadonlySet<string> = new Set([
  "contains",
  "startsWith",
  "endsWith",
  "lower",
  "upper",
  "trim",
  "lowerAscii",
  "upperAscii",
]);

const estimateMethodCall: Estimator = (walk, node, accu) => {
  const [method, receiver, args] = node.args as [string, CelNode, CelNode[]];
  const r = walk.estimate(receiver, accu);
  const a = walk.many(args, accu);
  const base = 1 + r.cost + total(a);
  if (method === MATCHES_FUNCTION || method === "matches") {
    return { cost: base + stringCost(r.size.str) * Math.max(1, a[0]?.size.str ?? 1), size: SCALAR };
  }
  if (SCANNING_METHODS.has(method)) {
    return { cost: base + stringCost(r.size.str), size: { str: r.size.str, list: 0 } };
  }
  if (method === "split") {
    return {
      cost: base + stringCost(r.size.str),
      size: { str: 0, list: r.size.str + 1, elem: { str: r.size.str, list: 0 } },
    };
  }
  if (method === "join") {
    const joined = r.size.list * ((r.size.elem?.str ?? 0) + (a[0]?.size.str ?? 0));
    return { cost: base + stringCost(joined), size: { str: joined, list: 0 } };
  }
  return { cost: base, size: SCALAR };
};

const estimateCall: Estimator = (walk, node, accu) => {
  const [, args] = node.args as [string, CelNode[]];
  const a = walk.many(args, accu);
  return { cost: 1 + total(a) + a.reduce((c, p) => c + stringCost(p.size.str), 0), size: SCALAR };
};

const estimateConcatenation: Estimator = (walk, node, accu) => {
  const [l, r] = walk.many(node.args as CelNode[], accu) as [Estimate, Estimate];
  const size = sum(l.size, r.size);
  return { cost: 1 + l.cost + r.cost + stringCost(size.str) + size.list, size };
};

const estimateMembership: Estimator = (walk, node, accu) => {
  const [l, r] = walk.many(node.args as CelNode[], accu) as [Estimate, Estimate];
  return { cost: 1 + l.cost + r.cost + r.size.list, size: SCALAR };
};

const estimateComparison: Estimator = (walk, node, accu) => {
  const [l, r] = walk.many(node.args as CelNode[], accu) as [Estimate, Estimate];
  const compared = Math.min(l.size.str, r.size.str) + Math.min(l.size.list, r.size.list);
  return { cost: 1 + l.cost + r.cost + stringCost(compared), size: SCALAR };
};

const estimateConditional: Estimator = (walk, node, accu) => {
  const [c, t, f] = walk.many(node.args as CelNode[], accu) as [Estimate, Estimate, Estimate];
  const size: Size = {
    str: Math.max(t.size.str, f.size.str),
    list: Math.max(t.size.list, f.size.list),
    elem: t.size.elem ?? f.size.elem,
  };
  return { cost: 1 + c.cost + Math.max(t.cost, f.cost), size };
};

/** Any other node: 1 plus its children. */
const estimateChildren: Estimator = (walk, node, accu) => {
  const children = Array.isArray(node.args)
    ? (node.args as unknown[]).filter(isCelNode)
    : isCelNode(node.args)
      ? [node.args]
      : [];
  return { cost: 1 + total(walk.many(children, accu)), size: SCALAR };
};

const ESTIMATORS: ReadonlyMap<string, Estimator> = new Map([
  ["value", estimateValue],
  ["id", estimateIdentifier],
  ["accuValue", estimateAccumulator],
  ["accuInc", estimateAccumulator],
  ["accuPush", estimateAccumulatorPush],
  ["list", estimateList],
  ["map", estimateMap],
  [".", estimateField],
  [".?", estimateField],
  ["[]", estimateIndex],
  ["[?]", estimateIndex],
  ["comprehension", estimateComprehension],
  ["rcall", estimateMethodCall],
  ["call", estimateCall],
  ["+", estimateConcatenation],
  ["in", estimateMembership],
  ["==", estimateComparison],
  ["!=", estimateComparison],
  ["<", estimateComparison],
  ["<=", estimateComparison],
  [">", estimateComparison],
  [">=", estimateComparison],
  ["?:", estimateConditional],
]);
