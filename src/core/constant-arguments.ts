// Constant arguments that can never work, found at compile time: `timestamp("2024-13-45T99:00:00Z")`,
// `duration("1x")`, `int("abc")`, `semverCompare(appVersion, "2.3")`. At run time each would turn
// its rule into a silent "no match" for every context; refused when the rule is written, the
// author sees the field and the position instead.
import { parseSemver } from "./semver.js";

/** Where in the expression (0-based offset of the argument) and why. */
export interface ConstantArgumentProblem {
  offset: number;
  message: string;
}

interface AstNode {
  op: string;
  args: unknown;
  start?: number;
  end?: number;
}

function isNode(value: unknown): value is AstNode {
  return typeof value === "object" && value !== null && "op" in value && "args" in value;
}

/** A literal, or a negated one (`int(-1.5)`): a value known without any context. */
function isConstant(node: AstNode): boolean {
  return node.op === "value" || (node.op === "-_" && isNode(node.args) && node.args.op === "value");
}

/** Conversions that fail for some constant arguments; each takes one. */
const CONVERSIONS = new Set(["timestamp", "duration", "int", "uint", "double", "bool"]);

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/**
 * Why a timestamp string is not an RFC 3339 instant (CEL's format), or undefined. The evaluator
 * parses with Date, which rolls "2024-02-30" over to March 1 and takes other formats too.
 */
function timestampProblem(text: string): string | undefined {
  const m = RFC3339.exec(text);
  if (!m) return 'not an RFC 3339 date and time such as "2027-01-15T09:00:00Z"';
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = m.slice(1).map(Number);
  if (year === 0) return "year 0000 is before 0001, the first year CEL holds";
  if ((month as number) < 1 || (month as number) > 12) return `month ${m[2]} does not exist`;
  const days = new Date(Date.UTC(year as number, month as number, 0)).getUTCDate();
  if ((day as number) < 1 || (day as number) > days) return `${m[1]}-${m[2]} has no day ${m[3]}`;
  if ((hour as number) > 23) return `hour ${m[4]} does not exist`;
  if ((minute as number) > 59) return `minute ${m[5]} does not exist`;
  if ((second as number) > 59) return `second ${m[6]} does not exist`;
  if (m[7] !== undefined && ((offsetHours as number) > 23 || (offsetMinutes as number) > 59))
    return `offset ${m[7]}:${m[8]} does not exist`;
  return undefined;
}

/** The call as the author wrote it, shortened for a message. */
function callText(source: string, node: AstNode): string {
  const text = source.slice(node.start ?? 0, node.end ?? source.length);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * The first call in the expression with a constant argument that can never work. `evaluate`
 * runs a constant expression (the call alone) in the rules' CEL environment, so what fails here
 * is exactly what would fail at run time.
 */
export function constantArgumentProblem(
  source: string,
  ast: unknown,
  evaluate: (expression: string) => unknown,
): ConstantArgumentProblem | undefined {
  let found: ConstantArgumentProblem | undefined;
  const walk = (value: unknown): void => {
    if (found) return;
    if (Array.isArray(value)) {
      for (const v of value) walk(v);
      return;
    }
    if (!isNode(value)) return;
    if (value.op === "call") {
      const [name, args] = value.args as [string, unknown[]];
      found = callProblem(source, value, name, args, evaluate);
    }
    walk(value.args);
  };
  walk(ast);
  return found;
}

function callProblem(
  source: string,
  call: AstNode,
  name: string,
  args: unknown[],
  evaluate: (expression: string) => unknown,
): ConstantArgumentProblem | undefined {
  if (name === "semverCompare") {
    // One constant that is not a version is enough: every comparison with it fails.
    for (const arg of args) {
      if (!isNode(arg) || arg.op !== "value" || typeof arg.args !== "string") continue;
      try {
        parseSemver(arg.args);
      } catch (error) {
        return {
          offset: arg.start ?? 0,
          message: `semverCompare can never work: ${(error as Error).message}`,
        };
      }
    }
    return undefined;
  }
  const arg = args[0];
  if (!CONVERSIONS.has(name) || args.length !== 1 || !isNode(arg) || !isConstant(arg)) return undefined;
  const offset = arg.start ?? call.start ?? 0;
  if (name === "timestamp" && typeof arg.args === "string") {
    const problem = timestampProblem(arg.args);
    if (problem) return { offset, message: `${callText(source, call)} can never work: ${problem}` };
  }
  try {
    evaluate(source.slice(call.start ?? 0, call.end ?? source.length));
    return undefined;
  } catch (error) {
    const message = (error as Error).message.split("\n")[0];
    return { offset, message: `${callText(source, call)} can never work: ${message}` };
  }
}
