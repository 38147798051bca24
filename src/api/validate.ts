// Offline validation of FeatureFlag manifests against the CRD's own schema: the OpenAPI part with
// ajv and the x-kubernetes-validations CEL rules with a CEL evaluator, so `flagwright validate`
// and the API server agree without a cluster.
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
import {
  checkRules,
  describe,
  OBJECT_META_FIELDS,
  type Problem,
  validateFlagSchema,
  validateSegmentSchema,
  withoutNulls,
} from "./schema-check.js";
import { resolveTargeting } from "./targeting.js";

export type { Problem } from "./schema-check.js";

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
  const { namespaces, problems } = collectManifests(manifests, options);
  for (const [namespace, defined] of namespaces)
    problems.push(...referenceProblems(namespace, defined, options));
  return problems;
}

/** What a namespace of the set defines: flags by key (with their references) and segment names. */
interface NamespaceDefinitions {
  flags: Map<string, Defined & { spec: FeatureFlagSpec }>;
  segments: Set<string>;
}

/** Sorts the manifests into namespaces, reporting objects and flag keys defined twice. */
function collectManifests(
  manifests: readonly SourcedManifest[],
  options: SetOptions,
): { namespaces: Map<string, NamespaceDefinitions>; problems: SetProblem[] } {
  const problems: SetProblem[] = [];
  const namespaces = new Map<string, NamespaceDefinitions>();
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
  return { namespaces, problems };
}

/** A namespace's missing prerequisites and segments, cycles and chains too deep, by the resolver. */
function referenceProblems(
  namespace: string,
  { flags, segments }: NamespaceDefinitions,
  options: SetOptions,
): SetProblem[] {
  const problems: SetProblem[] = [];
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
  return problems;
}
