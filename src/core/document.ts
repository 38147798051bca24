// The resolved flag document (`flags.json`): what the operator projects into the `flagwright-flags`
// ConfigMap and what sidecars and the in-process provider evaluate. See docs/document-format.md.
import type { ErrorObject, ValidateFunction } from "ajv";
import { validate as generatedValidate } from "./document-validator.generated.js";
import { checkExpression, formatProblem } from "./rules.js";

/**
 * The newest document version this reader understands. Version 2 adds targeting (rules,
 * prerequisites, segments); writers still write 1 for a document that uses none of it, so readers
 * from before version 2 keep reading documents they can evaluate correctly.
 */
export const DOCUMENT_VERSION = 2;
/** The version of a document without targeting. */
export const PLAIN_DOCUMENT_VERSION = 1;
/** ConfigMap key holding the document. */
export const DOCUMENT_KEY = "flags.json";
/** Default ConfigMap name the operator writes per namespace. */
export const DEFAULT_CONFIGMAP_NAME = "flagwright-flags";

export interface ResolvedVariant {
  name: string;
  /** Integer share of on-users; the weights of a flag add up to 100. */
  weight: number;
  /** Value served for this variant; default: the variant name. */
  value?: unknown;
}

/** What a matching rule serves: exactly one of the three. */
export interface ResolvedServe {
  /** true: on (variants split by weight); false: off. */
  enabled?: boolean;
  /** A fixed variant. */
  variant?: string;
  /** On for this share of matching users (same bucket as the rollout percent). */
  percent?: number;
}

/** A targeting rule (spec.rules[]), with segment names resolved into FlagDocument.segments. */
export interface ResolvedRule {
  name: string;
  /** CEL over the evaluation context (src/core/rules.ts). */
  when?: string;
  /** The context must belong to one of these segments (keys of FlagDocument.segments). */
  segments?: string[];
  serve: ResolvedServe;
}

export interface ResolvedPrerequisite {
  /** Key of a flag in the same document. */
  flag: string;
  /** Variant it must serve; default: on. */
  variant?: string;
}

/** A Segment, as the operator resolves it into the document of each namespace that uses it. */
export interface ResolvedSegment {
  when?: string;
  included: string[];
  excluded: string[];
}

export interface ResolvedFlag {
  /** Master switch (spec.enabled). */
  enabled: boolean;
  /** Manual kill or automatic rollback: off for everyone, whatever the percent. */
  killed: boolean;
  /** Effective rollout percent (0..100, at most two decimals), already resolved by the operator. */
  percent: number;
  /** Targeting keys that always get the flag while it is enabled and not killed. */
  allowedUsers: string[];
  variants?: ResolvedVariant[];
  /** Value served when the flag is off for a user. */
  defaultValue?: unknown;
  /** Evaluated in order after the allow-list and prerequisites; the first match wins. */
  rules?: ResolvedRule[];
  prerequisites?: ResolvedPrerequisite[];
  /** Revision of this flag's resolved content (changes whenever its evaluation may change). */
  revision: string;
}

export interface FlagDocument {
  version: number;
  /** documentRevision(flags): changes iff the flags content changes. */
  revision: string;
  namespace: string;
  /** When the operator produced this content (RFC 3339); optional, used for the age metric. */
  generatedAt?: string;
  flags: Record<string, ResolvedFlag>;
  /** Segments the flags' rules name, by segment name (version 2). */
  segments?: Record<string, ResolvedSegment>;
}

/** A document that failed to parse; `problems` lists every problem found, each naming its field. */
export class DocumentError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} problems: ${problems.join("; ")}`);
    this.name = "DocumentError";
  }
}

// Compiled from documentSchema by `npm run generate` (Ajv standalone code), so readers such as the
// sidecar validate without loading Ajv and compiling the schema at start (~8 MiB of RSS).
const validate = generatedValidate as unknown as ValidateFunction;

/** `/flags/new-checkout/percent` -> `flags["new-checkout"].percent` */
function fieldPath(instancePath: string): string {
  const parts = instancePath
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  let out = "";
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    const parentIsMap = i === 1 && parts[0] === "flags";
    if (parentIsMap) out += `[${JSON.stringify(p)}]`;
    else if (/^\d+$/.test(p)) out += `[${p}]`;
    else out += out === "" ? p : `.${p}`;
  }
  return out === "" ? "document" : out;
}

function describe(e: ErrorObject): string {
  let path = e.instancePath;
  if (e.keyword === "required") path += `/${(e.params as { missingProperty: string }).missingProperty}`;
  const field = fieldPath(path);
  switch (e.keyword) {
    case "required":
      return `${field}: is required`;
    case "minimum":
    case "maximum":
      if (path.endsWith("/percent")) return `${field}: must be between 0 and 100`;
      if (path.endsWith("/weight")) return `${field}: must be an integer between 0 and 100`;
      return `${field}: ${e.message}`;
    case "propertyNames":
      return `${field}: flag keys must be non-empty`;
    default:
      return `${field}: ${e.message}`;
  }
}

/** Checks the rules JSON schema cannot express. */
function semanticProblems(doc: FlagDocument): string[] {
  const problems: string[] = [];
  for (const [key, flag] of Object.entries(doc.flags)) {
    const at = `flags[${JSON.stringify(key)}]`;
    const scaled = flag.percent * 100;
    if (Math.abs(scaled - Math.round(scaled)) > 1e-6) {
      problems.push(`${at}.percent: must have at most two decimals (got ${flag.percent})`);
    }
    if (flag.variants) {
      const sum = flag.variants.reduce((s, v) => s + v.weight, 0);
      if (sum !== 100) problems.push(`${at}.variants: weights must add up to 100 (got ${sum})`);
      const seen = new Set<string>();
      flag.variants.forEach((v, i) => {
        if (seen.has(v.name)) problems.push(`${at}.variants[${i}].name: duplicate variant "${v.name}"`);
        seen.add(v.name);
      });
    }
    problems.push(...targetingProblems(doc, key, flag, at));
  }
  for (const [name, segment] of Object.entries(doc.segments ?? {})) {
    if (segment.when === undefined) continue;
    const problem = checkExpression(segment.when, "load");
    if (problem) problems.push(`segments[${JSON.stringify(name)}].when: ${formatProblem(problem)}`);
  }
  const cycle = prerequisiteCycle(doc.flags);
  if (cycle) problems.push(`flags[${JSON.stringify(cycle[0])}].prerequisites: cycle ${cycle.join(" -> ")}`);
  return problems;
}

function targetingProblems(doc: FlagDocument, key: string, flag: ResolvedFlag, at: string): string[] {
  const problems: string[] = [];
  const variantNames = new Set((flag.variants ?? []).map((v) => v.name));
  flag.rules?.forEach((rule, i) => {
    const field = `${at}.rules[${i}]`;
    if (rule.when !== undefined) {
      const problem = checkExpression(rule.when, "load");
      if (problem) problems.push(`${field}.when: ${formatProblem(problem)}`);
    } else if (!rule.segments?.length) {
      problems.push(`${field}: needs when or segments`);
    }
    rule.segments?.forEach((name, j) => {
      if (!doc.segments?.[name])
        problems.push(`${field}.segments[${j}]: segment "${name}" is not in the document`);
    });
    const { variant, percent } = rule.serve;
    if (variant !== undefined && !variantNames.has(variant))
      problems.push(`${field}.serve.variant: "${variant}" is not a variant of flag "${key}"`);
    if (percent !== undefined && Math.abs(percent * 100 - Math.round(percent * 100)) > 1e-6)
      problems.push(`${field}.serve.percent: must have at most two decimals (got ${percent})`);
  });
  flag.prerequisites?.forEach((p, i) => {
    if (!doc.flags[p.flag])
      problems.push(`${at}.prerequisites[${i}].flag: flag "${p.flag}" is not in the document`);
  });
  return problems;
}

/** The first prerequisite cycle found, as flag keys from a flag back to itself. */
export function prerequisiteCycle(
  flags: Readonly<Record<string, { prerequisites?: readonly { flag: string }[] }>>,
): string[] | undefined {
  const state = new Map<string, "visiting" | "done">();
  const path: string[] = [];
  const visit = (key: string): string[] | undefined => {
    const s = state.get(key);
    if (s === "done") return undefined;
    if (s === "visiting") return [...path.slice(path.indexOf(key)), key];
    state.set(key, "visiting");
    path.push(key);
    for (const p of flags[key]?.prerequisites ?? []) {
      const found = visit(p.flag);
      if (found) return found;
    }
    path.pop();
    state.set(key, "done");
    return undefined;
  };
  for (const key of Object.keys(flags).sort()) {
    const found = visit(key);
    if (found) return found;
  }
  return undefined;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Parses and validates a document (JSON text or an already-parsed value). The result is deeply
 * frozen: evaluation caches per-document lookups, so documents must not change after parsing.
 * Throws DocumentError with messages like `flags["new-checkout"].percent: must be between 0 and 100`.
 */
export function parseDocument(input: string | unknown): FlagDocument {
  let value: unknown = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new DocumentError([`document: not valid JSON (${(error as Error).message})`]);
    }
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new DocumentError(["document: must be a JSON object"]);
  }
  const version = (value as { version?: unknown }).version;
  if (typeof version === "number" && Number.isInteger(version) && version > DOCUMENT_VERSION) {
    throw new DocumentError([
      `version: document version ${version} is newer than this reader supports (${DOCUMENT_VERSION}); upgrade flagwright`,
    ]);
  }
  if (!validate(value)) {
    throw new DocumentError((validate.errors ?? []).map(describe));
  }
  const doc = value as unknown as FlagDocument;
  const problems = semanticProblems(doc);
  if (problems.length > 0) throw new DocumentError(problems);
  return deepFreeze(typeof input === "string" ? doc : structuredClone(doc));
}

/**
 * Whether two values have the same canonical JSON (canonicalJson(a) === canonicalJson(b)), found
 * without building either text and stopping at the first difference: the operator compares every
 * flag's planned status with its current one at every reconcile.
 */
export function sameCanonicalJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object")
    return canonicalJson(a) === canonicalJson(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameCanonicalJson(a[i], b[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let defined = 0;
  for (const key of Object.keys(x)) {
    if (x[key] === undefined) continue;
    defined++;
    if (!Object.hasOwn(y, key) || !sameCanonicalJson(x[key], y[key])) return false;
  }
  for (const key of Object.keys(y)) if (y[key] !== undefined) defined--;
  return defined === 0;
}

/**
 * JSON with object keys sorted at every level, so equal content gives equal text. Built by string
 * concatenation without intermediate arrays: the operator runs it on every flag of a namespace at
 * every reconcile (sizes, revisions, status comparison).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + canonicalJson(value[i]);
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  // Default sort compares UTF-16 code units, the order JSON tooling and `<` on strings use.
  const keys = Object.keys(record).sort();
  let out = "{";
  for (const key of keys) {
    const v = record[key];
    if (v === undefined) continue;
    out += `${out.length === 1 ? "" : ","}${JSON.stringify(key)}:${canonicalJson(v)}`;
  }
  return `${out}}`;
}
