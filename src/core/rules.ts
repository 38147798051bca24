// CEL over the evaluation context: the language of spec.rules[].when and Segment spec.when.
// Expressions are compiled once per document (compileExpression) and run per evaluation.
//
// Variables: every context attribute by name (typed dynamically), `targetingKey`, and `now`
// (a timestamp). Functions beyond standard CEL: semverCompare, lower, upper (docs/evaluation.md).
// A rule that reads an attribute the context lacks does not match: the attributes an expression
// reads are found once at compile time and checked before it runs, so a missing one costs a
// property lookup rather than a thrown and formatted CEL error.
//
// `matches` runs on RE2 (re2js, linear in the input) with RE2's syntax, not on JavaScript's
// backtracking RegExp: calls are renamed at compile time to a function of our own, and a constant
// pattern RE2 refuses is a compile error. Every expression's worst-case cost is estimated when it
// compiles (rule-cost.ts) and bounded again while it runs (rule-budget.ts).
import { createRequire } from "node:module";
import type { Environment } from "@marcbachmann/cel-js";
import type { RE2JS } from "re2js";
import { constantArgumentProblem } from "./constant-arguments.js";
import {
  BUDGET_EXCEEDED,
  type BudgetReason,
  budgetSpent,
  chargeMatch,
  instrumentComprehensions,
  takeBudgetExceeded,
} from "./rule-budget.js";
import {
  type CelNode,
  CONTEXT_LIST_BOUND,
  CONTEXT_STRING_BOUND,
  costProblem,
  isCelNode,
  MATCHES_FUNCTION,
  nestingDepth,
  RULE_COST_LIMIT,
  RULE_NESTING_LIMIT,
} from "./rule-cost.js";
import { compareSemver } from "./semver.js";

const load = createRequire(import.meta.url);

// Loaded with the CEL compiler (below), for the same reason.
let re2: typeof RE2JS | undefined;
const MAX_CACHED_PATTERNS = 1000;
/** Compiled patterns (or RE2's refusal), by source: constant ones compiled once, with the expression. */
const patterns = new Map<string, RE2JS | Error>();

/** The pattern compiled by RE2, or RE2's refusal as an Error. */
function compilePattern(pattern: string): RE2JS | Error {
  let compiled = patterns.get(pattern);
  if (compiled !== undefined) return compiled;
  re2 ??= (load("re2js") as typeof import("re2js")).RE2JS;
  try {
    compiled = re2.compile(pattern);
  } catch (error) {
    compiled = new Error((error as Error).message);
  }
  // Patterns built from the context could grow the cache without end: start over when it is full.
  if (patterns.size >= MAX_CACHED_PATTERNS) patterns.clear();
  patterns.set(pattern, compiled);
  return compiled;
}

function re2Matches(input: string, pattern: string): boolean {
  chargeMatch(input.length + (patterns.has(pattern) ? 0 : pattern.length));
  const compiled = compilePattern(pattern);
  if (compiled instanceof Error) throw compiled;
  return compiled.test(input);
}

// The CEL compiler is loaded on the first expression, not with this module: most documents have
// no rules, and loading it costs a sidecar (one per pod) about 1.6 MiB of RSS for nothing. It is an
// ES module; require() loads those synchronously from Node 20.19 on (package.json engines).
let env: Environment | undefined;
function celEnvironment(): Environment {
  if (env === undefined) {
    const cel = load("@marcbachmann/cel-js") as typeof import("@marcbachmann/cel-js");
    env = new cel.Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false })
      .registerVariable("now", "google.protobuf.Timestamp")
      .registerFunction("semverCompare(string, string): int", (a: string, b: string) =>
        BigInt(compareSemver(a, b)),
      )
      .registerFunction("string.lower(): string", (s: string) => s.toLowerCase())
      .registerFunction("string.upper(): string", (s: string) => s.toUpperCase())
      .registerFunction(`string.${MATCHES_FUNCTION}(string): bool`, re2Matches);
  }
  return env;
}

/** The functions beyond standard CEL, as docs/reference.md lists them. */
export const CUSTOM_FUNCTIONS = [
  {
    signature: "semverCompare(a: string, b: string): int",
    description:
      "-1, 0 or 1 by SemVer 2.0 precedence (2.10.0 > 2.9.1, 1.0.0-rc.1 < 1.0.0; build metadata ignored; numbers of any size compared exactly)",
  },
  { signature: "string.lower(): string", description: "the string in lower case" },
  { signature: "string.upper(): string", description: "the string in upper case" },
] as const;

/** Where an expression fails to compile: 1-based line and column, and the compiler's message. */
export interface ExpressionProblem {
  line: number;
  column: number;
  /** 0-based offset into the expression. */
  offset: number;
  message: string;
}

export interface CompiledExpression {
  readonly source: string;
  /** Top-level attributes the expression reads; a context without one of them does not match. */
  readonly reads: readonly string[];
  readonly usesNow: boolean;
  /** True iff the expression is true for this context; false on a missing attribute or any runtime error. */
  matches(context: Readonly<Record<string, unknown>>, now: () => Date): boolean;
}

interface Node {
  op: string;
  args: unknown;
}

const BINDING_MACROS = new Set(["all", "exists", "exists_one", "map", "filter", "bind"]);

function isNode(value: unknown): value is Node {
  return typeof value === "object" && value !== null && "op" in value && "args" in value;
}

/** Free identifiers of the AST, leaving out names bound by comprehension macros and cel.bind. */
function freeIdentifiers(ast: unknown): { free: Set<string>; bound: Set<string> } {
  const free = new Set<string>();
  const bound = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v);
      return;
    }
    if (!isNode(value)) return;
    if (value.op === "id") {
      free.add(value.args as string);
      return;
    }
    if (value.op === "rcall") {
      const [method, receiver, args] = value.args as [string, Node, Node[]];
      const first = args[0];
      if (BINDING_MACROS.has(method) && isNode(first) && first.op === "id" && args.length >= 2) {
        bound.add(first.args as string);
        // cel.bind(x, ...): `cel` is a namespace, not an attribute.
        if (method === "bind" && receiver.op === "id" && receiver.args === "cel") {
          walk(args.slice(1));
          return;
        }
      }
      walk(receiver);
      walk(args);
      return;
    }
    if (value.op === "call") {
      walk((value.args as [string, Node[]])[1]);
      return;
    }
    walk(value.args);
  };
  walk(ast);
  for (const name of bound) free.delete(name);
  return { free, bound };
}

function position(source: string, offset: number): { line: number; column: number } {
  const before = source.slice(0, offset).split("\n");
  return { line: before.length, column: (before[before.length - 1] as string).length + 1 };
}

function problemOf(source: string, error: unknown): ExpressionProblem {
  const e = error as { summary?: string; message?: string; range?: { start: number } };
  const offset = Math.max(0, Math.min(e.range?.start ?? 0, source.length));
  const message = (e.summary ?? e.message ?? String(error)).replaceAll(`.${MATCHES_FUNCTION}(`, ".matches(");
  return { ...position(source, offset), offset, message };
}

function problemAt(source: string, offset: number, message: string): ExpressionProblem {
  return { ...position(source, offset), offset, message };
}

type Program = ReturnType<Environment["parse"]>;

/**
 * Renames `s.matches(re)` to the RE2 function and returns the constant patterns' problems: RE2
 * refuses them, so the call could never match.
 */
function useRe2(source: string, ast: unknown): ExpressionProblem | undefined {
  let problem: ExpressionProblem | undefined;
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v);
      return;
    }
    if (!isCelNode(value)) return;
    if (value.op === "rcall") {
      const [method, receiver, args] = value.args as [string, CelNode, CelNode[]];
      if (method === "matches" && args.length === 1) {
        value.args = [MATCHES_FUNCTION, receiver, args];
        const pattern = args[0] as CelNode;
        if (pattern.op === "value" && typeof pattern.args === "string") {
          const compiled = compilePattern(pattern.args);
          if (compiled instanceof Error && problem === undefined) {
            problem = problemAt(
              source,
              pattern.start,
              `matches(): RE2 refuses the pattern: ${compiled.message}`,
            );
          }
        }
      }
    }
    walk(value.args);
  };
  walk(ast);
  return problem;
}

/**
 * Parses and type-checks an expression: the program, or the first problem. With `admission`, also
 * refuses what would load but never work as written: a constant pattern RE2 refuses, a cost over the
 * limit. Documents are compiled without it, so a rule written into a document directly still loads
 * (its pattern never matches, the run-time budget bounds its cost) rather than the whole document
 * being refused.
 */
function compile(
  source: string,
  admission: boolean,
): { program: Program; problem?: undefined } | { problem: ExpressionProblem } {
  try {
    const program = celEnvironment().parse(source);
    const depth = admission ? nestingDepth(program.ast as unknown as CelNode) : 0;
    if (depth > RULE_NESTING_LIMIT) {
      return {
        problem: problemAt(
          source,
          0,
          `nests ${depth} levels deep; the limit is ${RULE_NESTING_LIMIT} (write a long list of alternatives as \`x in [...]\`)`,
        ),
      };
    }
    const re2Problem = useRe2(source, program.ast);
    const checked = program.check();
    if (!checked.valid) return { problem: problemOf(source, checked.error) };
    if (re2Problem && admission) return { problem: re2Problem };
    if (admission) {
      const constant = constantArgumentProblem(source, program.ast, (call) =>
        celEnvironment().evaluate(call),
      );
      if (constant) return { problem: problemAt(source, constant.offset, constant.message) };
    }
    if (checked.type !== "bool" && checked.type !== "dyn") {
      return { problem: problemAt(source, 0, `must be a bool expression (it is ${checked.type})`) };
    }
    const over = admission ? costProblem(program.ast as unknown as CelNode) : undefined;
    if (over) {
      return {
        problem: problemAt(
          source,
          over.offset,
          `estimated cost ${Math.round(over.cost).toLocaleString("en-US")} exceeds the limit of ` +
            `${RULE_COST_LIMIT.toLocaleString("en-US")} (a comprehension costs its list's size times its ` +
            `body; lists from the context count as up to ${CONTEXT_LIST_BOUND.toLocaleString("en-US")} ` +
            `elements, strings as up to ${CONTEXT_STRING_BOUND.toLocaleString("en-US")} characters)`,
        ),
      };
    }
    return { program };
  } catch (error) {
    return { problem: problemOf(source, error) };
  }
}

/**
 * Compiles and type-checks an expression and returns the problem instead of throwing. For
 * "admission" (the default: the webhook, `flagwright validate`, the operator) it also refuses a
 * constant pattern RE2 refuses and a cost over the limit; "load" (a document a sidecar reads) checks
 * only what evaluation needs.
 */
export function checkExpression(
  source: string,
  purpose: "admission" | "load" = "admission",
): ExpressionProblem | undefined {
  return compile(source, purpose === "admission").problem;
}

/** A problem as one line: `1:14: found no matching overload for 'foo(dyn)'`. */
export function formatProblem(problem: ExpressionProblem): string {
  return `${problem.line}:${problem.column}: ${problem.message}`;
}

/**
 * Compiles an expression once; throws an Error carrying the formatted problem if it does not
 * compile. `matches` runs within the budget of the current flag evaluation: call beginBudget()
 * before each evaluation (evaluate() does). `onBudgetExceeded` hears, once per evaluation, of one
 * stopped by the run-time budget (what is left of it does not match).
 */
export function compileExpression(
  source: string,
  onBudgetExceeded?: (reason: BudgetReason) => void,
): CompiledExpression {
  const compiled = compile(source, false);
  if (compiled.problem) throw new Error(formatProblem(compiled.problem));
  const program = compiled.program;
  const ast = program.ast as unknown as CelNode;
  instrumentComprehensions(ast);
  const { free } = freeIdentifiers(ast);
  const usesNow = free.has("now");
  // Names the environment declares are not context attributes: `now`, the CEL type names
  // (`string`, `int`, `list`, ... as in `type(country) == string`) and the `google.protobuf`
  // namespace of `google.protobuf.Timestamp`.
  const reads = Object.freeze([...free].filter((name) => !celEnvironment().hasVariable(name)));
  return {
    source,
    reads,
    usesNow,
    matches(context, now) {
      for (let i = 0; i < reads.length; i++) {
        const value = context[reads[i] as string];
        if (value === undefined || value === null) return false;
      }
      let activation = context;
      if (usesNow) {
        const withNow = Object.create(context) as Record<string, unknown>;
        withNow.now = now();
        activation = withNow;
      }
      if (budgetSpent()) return false;
      let result: unknown;
      try {
        result = program(activation);
      } catch (error) {
        // A type mismatch at run time (for example a number where a string is compared) is a
        // non-match, never an error answer to the application.
        if (error !== BUDGET_EXCEEDED && !budgetSpent()) return false;
      }
      // Quantifiers (all, exists) carry on past a failing step, so the budget is read afterwards.
      if (budgetSpent()) {
        const reason = takeBudgetExceeded();
        if (reason !== undefined) onBudgetExceeded?.(reason);
        return false;
      }
      return result === true;
    },
  };
}
