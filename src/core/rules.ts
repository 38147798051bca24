// CEL over the evaluation context: the language of spec.rules[].when and Segment spec.when.
// Expressions are compiled once per document (compileExpression) and run per evaluation.
//
// Variables: every context attribute by name (typed dynamically), `targetingKey`, and `now`
// (a timestamp). Functions beyond standard CEL: semverCompare, lower, upper (docs/evaluation.md).
// A rule that reads an attribute the context lacks does not match: the attributes an expression
// reads are found once at compile time and checked before it runs, so a missing one costs a
// property lookup rather than a thrown and formatted CEL error.
import { createRequire } from "node:module";
import type { Environment } from "@marcbachmann/cel-js";
import { constantArgumentProblem } from "./constant-arguments.js";
import { compareSemver } from "./semver.js";

// The CEL compiler is loaded on the first expression, not with this module: most documents have
// no rules, and loading it costs a sidecar (one per pod) about 1.6 MiB of RSS for nothing. It is an
// ES module; require() loads those synchronously from Node 20.19 on (package.json engines).
let env: Environment | undefined;
function celEnvironment(): Environment {
  if (env === undefined) {
    const cel = createRequire(import.meta.url)(
      "@marcbachmann/cel-js",
    ) as typeof import("@marcbachmann/cel-js");
    env = new cel.Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false })
      .registerVariable("now", "google.protobuf.Timestamp")
      .registerFunction("semverCompare(string, string): int", (a: string, b: string) =>
        BigInt(compareSemver(a, b)),
      )
      .registerFunction("string.lower(): string", (s: string) => s.toLowerCase())
      .registerFunction("string.upper(): string", (s: string) => s.toUpperCase());
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
  return { ...position(source, offset), offset, message: e.summary ?? e.message ?? String(error) };
}

/** Compiles and type-checks an expression; returns the problem instead of throwing. */
export function checkExpression(source: string): ExpressionProblem | undefined {
  try {
    const parsed = celEnvironment().parse(source);
    const checked = parsed.check();
    if (!checked.valid) return problemOf(source, checked.error);
    const constant = constantArgumentProblem(source, parsed.ast, (call) => celEnvironment().evaluate(call));
    if (constant) return { ...position(source, constant.offset), ...constant };
    if (checked.type !== "bool" && checked.type !== "dyn") {
      return { line: 1, column: 1, offset: 0, message: `must be a bool expression (it is ${checked.type})` };
    }
    return undefined;
  } catch (error) {
    return problemOf(source, error);
  }
}

/** A problem as one line: `1:14: found no matching overload for 'foo(dyn)'`. */
export function formatProblem(problem: ExpressionProblem): string {
  return `${problem.line}:${problem.column}: ${problem.message}`;
}

/** Compiles an expression once; throws an Error carrying the formatted problem if it does not compile. */
export function compileExpression(source: string): CompiledExpression {
  const problem = checkExpression(source);
  if (problem) throw new Error(formatProblem(problem));
  const program = celEnvironment().parse(source);
  const { free } = freeIdentifiers(program.ast);
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
      try {
        return program(activation) === true;
      } catch {
        // A type mismatch at run time (for example a number where a string is compared) is a
        // non-match, never an error answer to the application.
        return false;
      }
    },
  };
}
