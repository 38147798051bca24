// The resolved flag document (`flags.json`): what the operator projects into the `flagwright-flags`
// ConfigMap and what sidecars and the in-process provider evaluate. See docs/document-format.md.
import { createHash } from "node:crypto";
import { Ajv, type ErrorObject } from "ajv";

/** The newest document version this reader understands. */
export const DOCUMENT_VERSION = 1;
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
}

/** A document that failed to parse; `problems` lists every problem found, each naming its field. */
export class DocumentError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} problems: ${problems.join("; ")}`);
    this.name = "DocumentError";
  }
}

// Additional properties are allowed everywhere: additive fields from newer writers are ignored.
const schema = {
  type: "object",
  required: ["version", "revision", "namespace", "flags"],
  properties: {
    version: { type: "integer", minimum: 1 },
    revision: { type: "string", minLength: 1 },
    namespace: { type: "string" },
    generatedAt: { type: "string" },
    flags: {
      type: "object",
      propertyNames: { minLength: 1 },
      additionalProperties: {
        type: "object",
        required: ["enabled", "killed", "percent", "allowedUsers", "revision"],
        properties: {
          enabled: { type: "boolean" },
          killed: { type: "boolean" },
          percent: { type: "number", minimum: 0, maximum: 100 },
          allowedUsers: { type: "array", items: { type: "string", minLength: 1 } },
          variants: {
            type: "array",
            minItems: 1,
            items: {
              type: "object",
              required: ["name", "weight"],
              properties: {
                name: { type: "string", minLength: 1 },
                weight: { type: "integer", minimum: 0, maximum: 100 },
                value: {},
              },
            },
          },
          defaultValue: {},
          revision: { type: "string" },
        },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

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
  }
  return problems;
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

/** JSON with object keys sorted at every level, so equal content gives equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** Stable revision of a flags map: first 16 hex chars of sha256 over its canonical JSON. */
export function documentRevision(flags: Record<string, ResolvedFlag>): string {
  return createHash("sha256").update(canonicalJson(flags)).digest("hex").slice(0, 16);
}

/** Revision of one flag's resolved content (same hashing as documentRevision). */
export function flagRevision(flag: Omit<ResolvedFlag, "revision">): string {
  const { revision: _ignored, ...content } = flag as ResolvedFlag;
  return createHash("sha256").update(canonicalJson(content)).digest("hex").slice(0, 16);
}

/** Builds a complete document (computing its revision) from resolved flags. */
export function buildDocument(
  namespace: string,
  flags: Record<string, ResolvedFlag>,
  generatedAt?: Date,
): FlagDocument {
  const doc: FlagDocument = {
    version: DOCUMENT_VERSION,
    revision: documentRevision(flags),
    namespace,
    flags,
  };
  if (generatedAt) doc.generatedAt = generatedAt.toISOString();
  return doc;
}
