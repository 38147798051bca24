// Code references to flag keys: scans source trees for string literals passed to evaluation calls
// (OpenFeature clients in TypeScript/JavaScript, Python and Go, the seed article's
// flag_enabled("key"), and OFREP URLs), then compares them with the flags that are defined.
// Regular expressions, not parsers: a key is found when it is a literal at the call site, which
// is what makes it removable by a search anyway. Extra patterns are configurable.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";

export interface Reference {
  key: string;
  file: string;
  /** 1-based. */
  line: number;
}

/** Each pattern has exactly one capture group: the flag key. */
const DEFAULT_PATTERNS = {
  // OpenFeature JS/TS: client.getBooleanValue("key", ...), getStringDetails, ...; useFlag("key") (React SDK).
  ts: [
    /\bget(?:Boolean|String|Number|Object)(?:Value|Details)\s*(?:<[^>]*>)?\(\s*["'`]([A-Za-z0-9_.-]+)["'`]/g,
    /\buse(?:Boolean|String|Number|Object)?Flag(?:Value|Details)?\s*\(\s*["'`]([A-Za-z0-9_.-]+)["'`]/g,
  ],
  // OpenFeature Python: client.get_boolean_value("key", ...); the seed article's flag_enabled("key", user).
  py: [
    /\bget_(?:boolean|string|integer|float|object)_(?:value|details)\s*\(\s*(?:flag_key\s*=\s*)?["']([A-Za-z0-9_.-]+)["']/g,
    /\bflag_enabled\s*\(\s*["']([A-Za-z0-9_.-]+)["']/g,
  ],
  // OpenFeature Go: client.BooleanValue(ctx, "key", false, evalCtx), StringValueDetails, ...
  go: [
    /\b(?:Boolean|String|Int|Float|Object)(?:Value|ValueDetails)\s*\(\s*[^,()]+,\s*"([A-Za-z0-9_.-]+)"/g,
    /\b(?:Boolean|String|Int|Float|Object)(?:Value|ValueDetails)\s*\(\s*[^,()]+,\s*`([A-Za-z0-9_.-]+)`/g,
  ],
  // Any language: a literal OFREP single-flag URL.
  any: [/\/ofrep\/v1\/evaluate\/flags\/([A-Za-z0-9_.-]+)/g],
} satisfies Record<string, readonly RegExp[]>;

const LANGUAGE: Record<string, "ts" | "py" | "go" | undefined> = {
  ".ts": "ts",
  ".tsx": "ts",
  ".mts": "ts",
  ".cts": "ts",
  ".js": "ts",
  ".jsx": "ts",
  ".mjs": "ts",
  ".cjs": "ts",
  ".py": "py",
  ".go": "go",
};
const SKIP_DIRS = new Set(["node_modules", ".git", "vendor", "dist", "build", "__pycache__", ".venv"]);

export interface ScanOptions {
  /** Extra patterns applied to every scanned file; each needs one capture group (the key). */
  patterns?: readonly RegExp[];
  /** Only the extra patterns, not the defaults. */
  noDefaults?: boolean;
}

function* walk(path: string): Generator<string> {
  const st = statSync(path);
  if (st.isFile()) {
    yield path;
    return;
  }
  if (!st.isDirectory()) return;
  const entries = readdirSync(path, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) yield* walk(join(path, entry.name));
    } else if (entry.isFile()) {
      yield join(path, entry.name);
    }
  }
}

/** Compiles a user pattern: global, and checked for exactly one capture group. */
export function compilePattern(source: string): RegExp {
  const re = new RegExp(source, "g");
  const groups = new RegExp(`${source}|`).exec("")?.length ?? 1;
  if (groups - 1 !== 1)
    throw new Error(`pattern ${source} must have exactly one capture group (the flag key)`);
  return re;
}

export function scanText(text: string, file: string, patterns: readonly RegExp[]): Reference[] {
  const refs: Reference[] = [];
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  const lineOf = (index: number) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] as number) <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  for (const pattern of patterns) {
    const re = new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : `${pattern.flags}g`);
    for (const m of text.matchAll(re)) {
      const key = m[1];
      if (key === undefined || key === "" || m.index === undefined) continue;
      refs.push({ key, file, line: lineOf(m.index + m[0].lastIndexOf(key)) });
    }
  }
  return refs;
}

/** Scans files and directories for flag key references, sorted by file and line. */
export function scanReferences(paths: readonly string[], options: ScanOptions = {}): Reference[] {
  const refs: Reference[] = [];
  for (const root of paths) {
    for (const file of walk(root)) {
      const lang = LANGUAGE[extname(file)];
      const extra = options.patterns ?? [];
      if (lang === undefined && extra.length === 0) continue;
      const defaults =
        options.noDefaults || lang === undefined ? [] : [...DEFAULT_PATTERNS[lang], ...DEFAULT_PATTERNS.any];
      const patterns = [...defaults, ...extra];
      if (patterns.length === 0) continue;
      const text = readFileSync(file, "utf8");
      refs.push(...scanText(text, file, patterns));
    }
  }
  const seen = new Set<string>();
  return refs
    .filter((r) => {
      const id = `${r.file}\0${r.line}\0${r.key}`;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    })
    .sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.key.localeCompare(b.key));
}

export interface DefinedFlag {
  key: string;
  /** Where it is defined: a manifest path, or namespace/name in the cluster. */
  source: string;
}

export interface RefsReport {
  /** Defined flags no code references. */
  unreferenced: DefinedFlag[];
  /** Keys code references that no flag defines, with every place they appear. */
  undefinedKeys: { key: string; references: Reference[] }[];
  /** Defined flags with their references. */
  referenced: { flag: DefinedFlag; references: Reference[] }[];
}

export function compareReferences(defined: readonly DefinedFlag[], refs: readonly Reference[]): RefsReport {
  const byKey = new Map<string, Reference[]>();
  for (const r of refs) {
    const list = byKey.get(r.key);
    if (list) list.push(r);
    else byKey.set(r.key, [r]);
  }
  const definedKeys = new Set(defined.map((d) => d.key));
  const sortedDefined = [...defined].sort(
    (a, b) => a.key.localeCompare(b.key) || a.source.localeCompare(b.source),
  );
  return {
    unreferenced: sortedDefined.filter((d) => !byKey.has(d.key)),
    undefinedKeys: [...byKey]
      .filter(([key]) => !definedKeys.has(key))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, references]) => ({ key, references })),
    referenced: sortedDefined
      .filter((d) => byKey.has(d.key))
      .map((flag) => ({ flag, references: byKey.get(flag.key) ?? [] })),
  };
}
