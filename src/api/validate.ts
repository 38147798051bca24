// Offline validation of FeatureFlag manifests against the CRD's own schema: the OpenAPI part with
// ajv and the x-kubernetes-validations CEL rules with a CEL evaluator, so `flagwright validate`
// and the API server agree without a cluster.
import { Environment } from "@marcbachmann/cel-js";
import { Ajv, type ErrorObject } from "ajv";
import addFormatsModule from "ajv-formats";
import { checkExpression, formatProblem } from "../core/rules.js";
import type { FeatureFlagSpec, SegmentSpec } from "./index.js";
import {
  API_VERSION,
  featureFlagSchema,
  type JSONSchema,
  KIND,
  PROMETHEUS_ADDRESS_PATTERN,
  SEGMENT_KIND,
  segmentSchema,
} from "./schema.js";
import { resolveTargeting } from "./targeting.js";

export interface Problem {
  /** Field path as the API server prints it, e.g. spec.rollout.canary.steps[0].pause. */
  field: string;
  message: string;
}

// Kubernetes' CEL list library (isSorted, sum) on top of the standard environment.
const cel = new Environment({ unlistedVariablesAreDyn: true })
  .registerFunction("list.isSorted(): bool", (list: unknown[]) =>
    list.every((item, i) => i === 0 || (list[i - 1] as number) <= (item as number)),
  )
  .registerFunction("list.sum(): dyn", (list: (number | bigint)[]) =>
    list.reduce<number | bigint>(
      (a, b) => (a as number) + (b as number),
      typeof list[0] === "bigint" ? 0n : 0,
    ),
  );

/** The schema as ajv should see it: unknown fields rejected (kubectl's strict field validation). */
function strictSchema(schema: JSONSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith("x-kubernetes-") || key === "nullable") continue;
    if (key === "properties") {
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, JSONSchema>).map(([k, v]) => [k, strictSchema(v)]),
      );
    } else if (key === "items" || (key === "additionalProperties" && typeof value === "object")) {
      out[key] = strictSchema(value as JSONSchema);
    } else {
      out[key] = value;
    }
  }
  if (schema.properties && schema.additionalProperties === undefined) out.additionalProperties = false;
  // OpenAPI 3.0's boolean form (what the CRD carries) in JSON Schema's numeric form (what ajv reads).
  if (schema.exclusiveMinimum === true && schema.minimum !== undefined) {
    out.exclusiveMinimum = schema.minimum;
    delete out.minimum;
  } else delete out.exclusiveMinimum;
  return out;
}

/** ObjectMeta's fields: strict field validation refuses any other key in metadata. */
const OBJECT_META_FIELDS = new Set([
  "name",
  "generateName",
  "namespace",
  "selfLink",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields",
]);

/**
 * The object as the API server validates it: it prunes null values of schema fields before
 * validation (none of ours is nullable), except inside free-form (preserve-unknown-fields) values.
 */
function withoutNulls(schema: JSONSchema, value: unknown): unknown {
  if (schema["x-kubernetes-preserve-unknown-fields"]) return value;
  if (Array.isArray(value)) {
    const items = schema.items;
    return items ? value.map((v) => withoutNulls(items, v)) : value;
  }
  if (value && typeof value === "object" && schema.properties) {
    const props = schema.properties;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const sub = props[k];
      if (sub && v === null) continue;
      out[k] = sub ? withoutNulls(sub, v) : v;
    }
    return out;
  }
  return value;
}

const ajv = new Ajv({ allErrors: true, strict: false });
(addFormatsModule as unknown as (a: Ajv) => void)(ajv);
const validateFlagSchema = ajv.compile(strictSchema(featureFlagSchema));
const validateSegmentSchema = ajv.compile(strictSchema(segmentSchema));

function pathOf(instancePath: string): string {
  return instancePath
    .split("/")
    .slice(1)
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), "");
}

function describe(error: ErrorObject): Problem {
  const field = pathOf(error.instancePath);
  const at = (name: string) => (field ? `${field}.${name}` : name);
  switch (error.keyword) {
    case "required":
      return { field: at(error.params.missingProperty), message: "Required value" };
    case "additionalProperties":
      return { field: at(error.params.additionalProperty), message: "unknown field" };
    case "enum":
      return { field, message: `Unsupported value: must be one of ${error.params.allowedValues.join(", ")}` };
    default:
      return { field, message: error.message ?? error.keyword };
  }
}

/** CEL sees integers as int and numbers as double, as the API server types them by schema. */
function celValue(schema: JSONSchema, value: unknown): unknown {
  if (schema.type === "integer" && typeof value === "number") return BigInt(value);
  if (Array.isArray(value) && schema.items) return value.map((v) => celValue(schema.items as JSONSchema, v));
  if (value && typeof value === "object" && !Array.isArray(value) && schema.properties) {
    const props = schema.properties;
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, props[k] ? celValue(props[k], v) : v]),
    );
  }
  return value;
}

function checkRules(schema: JSONSchema, value: unknown, field: string, problems: Problem[]): void {
  if (value === undefined) return;
  for (const { rule, message } of schema["x-kubernetes-validations"] ?? []) {
    let ok: unknown;
    try {
      ok = cel.evaluate(rule, { self: celValue(schema, value) });
    } catch (error) {
      ok = false;
      problems.push({
        field,
        message: `${message} (rule could not be evaluated: ${(error as Error).message})`,
      });
      continue;
    }
    if (ok !== true) problems.push({ field, message });
  }
  if (Array.isArray(value)) checkListType(schema, value, field, problems);
  if (Array.isArray(value) && schema.items) {
    const items = schema.items;
    value.forEach((item, i) => {
      checkRules(items, item, `${field}[${i}]`, problems);
    });
  } else if (value && typeof value === "object" && schema.properties) {
    for (const [key, sub] of Object.entries(schema.properties)) {
      checkRules(sub, (value as Record<string, unknown>)[key], field ? `${field}.${key}` : key, problems);
    }
  }
}

/** list-type map and set forbid duplicates, as the API server enforces them. */
function checkListType(schema: JSONSchema, list: unknown[], field: string, problems: Problem[]): void {
  const type = schema["x-kubernetes-list-type"];
  if (type !== "map" && type !== "set") return;
  const keys = schema["x-kubernetes-list-map-keys"] ?? [];
  const seen = new Set<string>();
  list.forEach((item, i) => {
    const identity =
      type === "map"
        ? JSON.stringify(keys.map((k) => (item as Record<string, unknown>)[k]))
        : JSON.stringify(item);
    if (seen.has(identity))
      problems.push({ field: `${field}[${i}]`, message: `Duplicate value: ${identity}` });
    seen.add(identity);
  });
}

/** Every problem the API server would report for this FeatureFlag manifest, plus rules that do not compile; empty when valid. */
export function validateFeatureFlag(manifest: unknown): Problem[] {
  return validateObject(manifest, KIND, featureFlagSchema, validateFlagSchema);
}

/** Every problem of a Segment manifest, as validateFeatureFlag; empty when valid. */
export function validateSegment(manifest: unknown): Problem[] {
  return validateObject(manifest, SEGMENT_KIND, segmentSchema, validateSegmentSchema);
}

/**
 * The CEL expressions users wrote (spec.rules[].when, a Segment's spec.when) that do not compile,
 * with the position in the expression: what the admission webhook refuses and the operator reports.
 */
export function expressionProblems(spec: unknown): Problem[] {
  return expressionFields(spec).flatMap(({ field, source }) => expressionProblem(field, source) ?? []);
}

/** The CEL expressions users wrote in a spec (spec.rules[].when, spec.when), by field path. */
export function expressionFields(spec: unknown): { field: string; source: string }[] {
  const fields: { field: string; source: string }[] = [];
  const s = spec as { when?: unknown; rules?: { when?: unknown }[] } | undefined;
  if (s === undefined || s === null || typeof s !== "object") return fields;
  if (typeof s.when === "string") fields.push({ field: "spec.when", source: s.when });
  if (Array.isArray(s.rules)) {
    for (const [i, rule] of s.rules.entries())
      if (typeof rule?.when === "string") fields.push({ field: `spec.rules[${i}].when`, source: rule.when });
  }
  return fields;
}

/** The problem of one expression (expressionProblems' message), or undefined when it compiles. */
export function expressionProblem(field: string, source: string): Problem | undefined {
  const problem = checkExpression(source);
  return problem && { field, message: `invalid CEL at ${formatProblem(problem)}` };
}

/**
 * analysis.prometheus.address checked as the CRD's CEL rule checks it, for the admission webhook
 * (which does not run the whole schema): an address with user info, a query or a fragment would
 * send the operator's requests somewhere other than a Prometheus API path.
 */
export function prometheusAddressProblems(spec: unknown): Problem[] {
  const address = (spec as { rollout?: { canary?: { analysis?: { prometheus?: { address?: unknown } } } } })
    ?.rollout?.canary?.analysis?.prometheus?.address;
  if (
    address === undefined ||
    (typeof address === "string" && new RegExp(PROMETHEUS_ADDRESS_PATTERN).test(address))
  )
    return [];
  return [
    {
      field: "spec.rollout.canary.analysis.prometheus.address",
      message: "must be http(s)://host[:port][/path] without user info, query or fragment",
    },
  ];
}

function validateObject(
  manifest: unknown,
  kind: string,
  schema: JSONSchema,
  validateSchema: typeof validateFlagSchema,
): Problem[] {
  const problems: Problem[] = [];
  const object = manifest as Record<string, unknown> | null;
  if (!object || typeof object !== "object" || Array.isArray(object)) {
    return [{ field: "", message: `a ${kind} manifest must be a YAML/JSON object` }];
  }
  if (object.apiVersion !== API_VERSION) {
    problems.push({ field: "apiVersion", message: `must be ${API_VERSION}` });
  }
  if (object.kind !== kind) problems.push({ field: "kind", message: `must be ${kind}` });
  const name = (object.metadata as { name?: unknown } | undefined)?.name;
  if (typeof name !== "string" || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) {
    problems.push({ field: "metadata.name", message: "Required value: a DNS subdomain name (lowercase)" });
  }
  const metadata = object.metadata;
  if (metadata && typeof metadata === "object" && !Array.isArray(metadata)) {
    for (const key of Object.keys(metadata)) {
      if (!OBJECT_META_FIELDS.has(key)) problems.push({ field: `metadata.${key}`, message: "unknown field" });
    }
  }
  const pruned = withoutNulls(schema, object);
  if (!validateSchema(pruned)) {
    problems.push(...(validateSchema.errors ?? []).map(describe));
    // CEL rules only run on values that are structurally valid, as on the API server.
    return problems;
  }
  checkRules(schema, pruned, "", problems);
  problems.push(...expressionProblems((pruned as { spec?: unknown }).spec));
  return problems;
}

/** One manifest of a set, with where it came from (for example `flags.yaml#2`). */
export interface SourcedManifest {
  source: string;
  object: unknown;
}

/** A problem across manifests, reported on the manifest it is about. */
export interface SetProblem extends Problem {
  source: string;
  /** The object's metadata.name. */
  name: string;
  severity: "error" | "warning";
}

export interface SetOptions {
  /** The namespace of manifests without metadata.namespace (kubectl's own default: "default"). */
  defaultNamespace?: string;
  /**
   * The manifests are only part of what their namespaces hold: a prerequisite or Segment that
   * none of them defines is a warning rather than an error (it may be in the cluster already).
   */
  partial?: boolean;
}

interface Defined {
  source: string;
  name: string;
}

const isStrings = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((item) => typeof item === "string");

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * What the operator's resolver needs of a FeatureFlag spec: its rules' segments and its
 * prerequisites. Expressions are left out (each manifest's own check reports them), and so is a
 * reference of the wrong shape (the schema check reports that).
 */
function referencesOf(spec: unknown): FeatureFlagSpec {
  const s = isObject(spec) ? spec : {};
  // Positions stay those of the manifest, so the fields the resolver names are right; a list with
  // an entry of the wrong shape is left out whole.
  const rules = (Array.isArray(s.rules) ? s.rules : []).map((rule) => {
    const segments = isObject(rule) ? rule.segments : undefined;
    return { name: "", serve: {}, segments: isStrings(segments) ? segments : [] };
  });
  const prerequisites = Array.isArray(s.prerequisites) ? s.prerequisites : [];
  const wellFormed = prerequisites.every((p) => isObject(p) && typeof p.flag === "string");
  return { enabled: true, rules, prerequisites: wellFormed ? prerequisites : [] } as FeatureFlagSpec;
}

/**
 * Problems across a set of manifests, namespace by namespace (flags and segments resolve only
 * within their own), found by the operator's own resolver (src/api/targeting.ts): a
 * prerequisite no flag of the set defines, a prerequisite cycle (naming its flags) or a chain too
 * deep, a rule naming a Segment the set lacks; and objects or flag keys defined twice.
 */
export function crossManifestProblems(
  manifests: readonly SourcedManifest[],
  options: SetOptions = {},
): SetProblem[] {
  const problems: SetProblem[] = [];
  const namespaces = new Map<
    string,
    { flags: Map<string, Defined & { spec: FeatureFlagSpec }>; segments: Set<string> }
  >();
  const objects = new Map<string, Defined>();
  for (const { source, object } of manifests) {
    if (!isObject(object) || (object.kind !== KIND && object.kind !== SEGMENT_KIND)) continue;
    const metadata = isObject(object.metadata) ? object.metadata : {};
    if (typeof metadata.name !== "string") continue;
    const name = metadata.name;
    const namespace =
      typeof metadata.namespace === "string" ? metadata.namespace : (options.defaultNamespace ?? "default");
    let ns = namespaces.get(namespace);
    if (ns === undefined) {
      ns = { flags: new Map(), segments: new Set() };
      namespaces.set(namespace, ns);
    }
    const identity = `${object.kind}/${namespace}/${name}`;
    const first = objects.get(identity);
    if (first) {
      problems.push({
        source,
        name,
        severity: "error",
        field: "metadata.name",
        message: `${object.kind} "${name}" in namespace "${namespace}" is also defined at ${first.source}; applying both keeps only one`,
      });
      continue;
    }
    objects.set(identity, { source, name });
    if (object.kind === SEGMENT_KIND) {
      ns.segments.add(name);
      continue;
    }
    const spec = isObject(object.spec) ? object.spec : {};
    const key = typeof spec.key === "string" ? spec.key : name;
    const owner = ns.flags.get(key);
    if (owner) {
      problems.push({
        source,
        name,
        severity: "error",
        field: spec.key === undefined ? "metadata.name" : "spec.key",
        message: `key "${key}" is already used by FeatureFlag ${owner.name} (${owner.source}) in namespace "${namespace}"; the operator would not project this flag`,
      });
      continue;
    }
    ns.flags.set(key, { source, name, spec: referencesOf(spec) });
  }

  for (const [namespace, { flags, segments }] of namespaces) {
    // Segments resolve by name; their own expressions are checked per manifest.
    const segmentSpecs = new Map<string, SegmentSpec>([...segments].map((n) => [n, {}]));
    // Two views, so a missing segment does not hide a missing prerequisite or a cycle: the
    // resolver reports the first problem of a flag.
    const bySegments = resolveTargeting(
      new Map([...flags].map(([key, f]) => [key, { ...f.spec, prerequisites: [] }])),
      segmentSpecs,
    );
    const byPrerequisites = resolveTargeting(
      new Map([...flags].map(([key, f]) => [key, { ...f.spec, rules: [] }])),
      segmentSpecs,
    );
    for (const [key, flag] of flags) {
      for (const problem of [bySegments.problems.get(key), byPrerequisites.problems.get(key)]) {
        if (problem === undefined) continue;
        const missing = problem.reason === "SegmentNotFound" || problem.reason === "PrerequisiteNotFound";
        const colon = problem.message.indexOf(": ");
        problems.push({
          source: flag.source,
          name: flag.name,
          severity: missing && options.partial ? "warning" : "error",
          field: problem.message.slice(0, colon),
          message: problem.message
            .slice(colon + 2)
            .replace("in this namespace", `in namespace "${namespace}" of the manifests given`),
        });
      }
    }
  }
  return problems;
}
