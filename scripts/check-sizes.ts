// `npm run lint:sizes`: no file in src/ over 400 lines, no function over 80 (the literal span of any
// function-like node with a body, nested closures included, so a closure-heavy factory counts as
// one long function), and every module opens with a comment saying what it owns. Today's violators
// are accepted from a committed baseline that cannot grow: a new violation, or a known one that got
// longer, fails. `-- --update-baseline` rewrites it.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";

export const FILE_LIMIT = 400;
export const FUNCTION_LIMIT = 80;
export const DEFAULT_BASELINE = ".size-known-violations.json";

/** What the check never measures, each with its reason. `name` limits an entry to one function. */
export const EXEMPT: readonly { path: RegExp; name?: string; reason: string }[] = [
  { path: /\.generated\.ts$/, reason: "generated from src/api/schema.ts by `npm run generate`" },
  { path: /^src\/api\/schema\.ts$/, reason: "the declarative CRD schema: data, not logic" },
  {
    path: /^src\/core\/sha256\.ts$/,
    name: "compress",
    reason: "SHA-256's compression, unrolled for the evaluation hot path",
  },
];

export interface Violation {
  /** `header`: the module does not open with a comment, or its opening comment cites an issue. */
  kind: "file" | "function" | "header";
  file: string;
  /** The function's name, qualified by its class or enclosing functions; absent for files. */
  name?: string;
  line: number;
  lines: number;
  /** For a header: what is wrong with it. */
  reason?: string;
}

/** Files the check reads: TypeScript and JavaScript under `dir` (the dashboard's page included). */
export function sourceFiles(root: string, dir = "src"): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...sourceFiles(root, path));
    else if (/\.(ts|js|mjs|cjs)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) out.push(path);
  }
  return out.sort();
}

function exempt(file: string, name?: string): boolean {
  return EXEMPT.some((e) => e.path.test(file) && (e.name === undefined || e.name === name));
}

/** The name a function is known by: its own, or that of the variable, property or call it sits in. */
function ownName(node: ts.SignatureDeclaration, source: ts.SourceFile): string {
  if (ts.isConstructorDeclaration(node)) return "constructor";
  if (node.name !== undefined) {
    const name = node.name.getText(source);
    if (ts.isGetAccessorDeclaration(node)) return `get ${name}`;
    if (ts.isSetAccessorDeclaration(node)) return `set ${name}`;
    return name;
  }
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyDeclaration(parent) || ts.isPropertyAssignment(parent))
    return parent.name.getText(source);
  if (ts.isCallExpression(parent) || ts.isNewExpression(parent)) {
    const callee = parent.expression;
    const calleeName = ts.isPropertyAccessExpression(callee) ? callee.name.text : callee.getText(source);
    return `${calleeName}(callback)`;
  }
  if (ts.isExportAssignment(parent)) return "default";
  return "(anonymous)";
}

function hasBody(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return (
    (ts.isFunctionDeclaration(node) ||
      ts.isFunctionExpression(node) ||
      ts.isArrowFunction(node) ||
      ts.isMethodDeclaration(node) ||
      ts.isConstructorDeclaration(node) ||
      ts.isGetAccessorDeclaration(node) ||
      ts.isSetAccessorDeclaration(node)) &&
    node.body !== undefined
  );
}

/** Every function-like node with a body in one file: qualified name, first line, span in lines. */
export function measureFunctions(
  file: string,
  text: string,
): { name: string; line: number; lines: number }[] {
  const kind = file.endsWith(".ts") ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const found: { name: string; line: number; lines: number }[] = [];
  const seen = new Map<string, number>();
  const lineOf = (pos: number) => source.getLineAndCharacterOfPosition(pos).line + 1;
  const visit = (node: ts.Node, scope: string[]): void => {
    let inner = scope;
    if (ts.isClassLike(node)) inner = [...scope, node.name?.text ?? "(class)"];
    else if (hasBody(node)) {
      inner = [...scope, ownName(node, source)];
      let name = inner.join(".");
      const count = (seen.get(name) ?? 0) + 1;
      seen.set(name, count);
      if (count > 1) name = `${name}#${count}`;
      const line = lineOf(node.getStart(source));
      found.push({ name, line, lines: lineOf(node.getEnd()) - line + 1 });
    }
    ts.forEachChild(node, (child) => visit(child, inner));
  };
  visit(source, []);
  return found;
}

/** Why a module's opening lines (after a `#!` line) are not a header that stands on its own. */
export function headerProblem(text: string): string | undefined {
  const lines = text.split("\n");
  if (lines[0]?.startsWith("#!")) lines.shift();
  const header: string[] = [];
  for (const line of lines) {
    if (!line.startsWith("//")) break;
    header.push(line);
  }
  if (header.length === 0 && !lines[0]?.startsWith("/*"))
    return "no header comment saying what the module owns";
  if (/\bissues? \d+|#\d+\b/i.test(header.join("\n")))
    return "the header cites an issue: say what the module owns";
  return undefined;
}

/** Every file and function over its limit, and every module without its header; exemptions left out. */
export function findViolations(
  root: string,
  files: readonly string[],
): { violations: Violation[]; files: number; functions: number } {
  const violations: Violation[] = [];
  let measuredFiles = 0;
  let functions = 0;
  for (const file of files) {
    if (exempt(file)) continue;
    measuredFiles++;
    const text = readFileSync(join(root, file), "utf8");
    const lines = text.endsWith("\n") ? text.split("\n").length - 1 : text.split("\n").length;
    if (lines > FILE_LIMIT) violations.push({ kind: "file", file, line: 1, lines });
    const header = headerProblem(text);
    if (header !== undefined) violations.push({ kind: "header", file, line: 1, lines: 0, reason: header });
    for (const fn of measureFunctions(file, text)) {
      functions++;
      if (fn.lines > FUNCTION_LIMIT && !exempt(file, fn.name))
        violations.push({ kind: "function", file, name: fn.name, line: fn.line, lines: fn.lines });
    }
  }
  return { violations, files: measuredFiles, functions };
}

type Known = Omit<Violation, "line" | "reason">;

const keyOf = (v: Known) => `${v.kind} ${v.file} ${v.name ?? ""}`;

/** Splits violations into those the baseline accepts and those that fail (new, or grown). */
export function compare(
  violations: readonly Violation[],
  baseline: readonly Known[],
): { accepted: Violation[]; failing: { violation: Violation; was?: number }[]; fixed: Known[] } {
  const known = new Map(baseline.map((b) => [keyOf(b), b]));
  const accepted: Violation[] = [];
  const failing: { violation: Violation; was?: number }[] = [];
  for (const v of violations) {
    const was = known.get(keyOf(v));
    if (was !== undefined && v.lines <= was.lines) accepted.push(v);
    else failing.push(was === undefined ? { violation: v } : { violation: v, was: was.lines });
  }
  const current = new Set(violations.map(keyOf));
  return { accepted, failing, fixed: baseline.filter((b) => !current.has(keyOf(b))) };
}

export function describeViolation(v: Violation): string {
  if (v.kind === "header") return `${v.file}:1 ${v.reason}`;
  return v.kind === "file"
    ? `${v.file}: file is ${v.lines} lines (limit ${FILE_LIMIT})`
    : `${v.file}:${v.line} ${v.name}: function is ${v.lines} lines (limit ${FUNCTION_LIMIT})`;
}

function toBaseline(violations: readonly Violation[]): Known[] {
  return violations.map(({ kind, file, name, lines }) =>
    name === undefined ? { kind, file, lines } : { kind, file, name, lines },
  );
}

/** Runs the check on `root`; returns the exit code and prints what it found. */
export function main(root: string, args: readonly string[], print = console.log): number {
  const baselineFile = join(root, DEFAULT_BASELINE);
  const { violations, files, functions } = findViolations(root, sourceFiles(root));
  if (args.includes("--update-baseline")) {
    writeFileSync(baselineFile, `${JSON.stringify(toBaseline(violations), null, 2)}\n`);
    print(`lint:sizes: wrote ${DEFAULT_BASELINE} with ${violations.length} known violations`);
    return 0;
  }
  let baseline: Known[] = [];
  try {
    baseline = JSON.parse(readFileSync(baselineFile, "utf8")) as Known[];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const { accepted, failing, fixed } = compare(violations, baseline);
  for (const { violation, was } of failing)
    print(`${describeViolation(violation)}${was === undefined ? "" : `, was ${was} in ${DEFAULT_BASELINE}`}`);
  const summary = `lint:sizes: ${files} files, ${functions} functions; ${failing.length} failing, ${accepted.length} known (${DEFAULT_BASELINE})`;
  const stale = fixed.length > 0 ? `, ${fixed.length} known now within the limits` : "";
  if (failing.length > 0) {
    print(
      `${summary}${stale}: split the code or write the header; the baseline only shrinks (after a merge: \`npm run lint:sizes -- --update-baseline\`)`,
    );
    return 1;
  }
  print(`${summary}${stale}${stale && ": `npm run lint:sizes -- --update-baseline` drops them"}`);
  return 0;
}

// Run as a script (not when a test imports it).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.cwd(), process.argv.slice(2));
}
