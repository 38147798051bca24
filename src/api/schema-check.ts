// Checks a manifest against the CRD's schema as the API server does: the OpenAPI part with ajv
// (strict fields, nulls pruned) and the x-kubernetes-validations CEL rules and list types with a
// CEL evaluator; validate.ts adds what is checked beyond the schema.
import { Environment } from "@marcbachmann/cel-js";
import { Ajv, type ErrorObject } from "ajv";
import addFormatsModule from "ajv-formats";
import { featureFlagSchema, type JSONSchema, segmentSchema } from "./schema.js";

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
export const OBJECT_META_FIELDS = new Set([
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
export function withoutNulls(schema: JSONSchema, value: unknown): unknown {
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
export const validateFlagSchema = ajv.compile(strictSchema(featureFlagSchema));
export const validateSegmentSchema = ajv.compile(strictSchema(segmentSchema));

function pathOf(instancePath: string): string {
  return instancePath
    .split("/")
    .slice(1)
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), "");
}

export function describe(error: ErrorObject): Problem {
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

export function checkRules(schema: JSONSchema, value: unknown, field: string, problems: Problem[]): void {
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
