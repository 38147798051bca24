// The validating admission webhook for targeting: the API server cannot compile the CEL users write
// in spec.rules[].when and a Segment's spec.when (its own CEL knows only `self`), so the operator
// does, on the admission server's POST /validate route, and refuses the object with the field path,
// the position in the expression and the compiler's message. The schema itself is the API server's
// job; TLS, the server and the AdmissionReview envelope live in src/operator/injection/.
import type { Logger } from "pino";
import { featureFlagSchema, type JSONSchema, KIND, SEGMENT_KIND, segmentSchema } from "../api/schema.js";
import {
  expressionFields,
  expressionProblem,
  type Problem,
  prometheusAddressProblems,
} from "../api/validate.js";
import { type AdmissionDecision, admissionRequest, admissionResponse } from "./injection/admission-review.js";
import {
  type AdmissionHandler,
  type AdmissionServer,
  startAdmissionServer,
} from "./injection/admission-server.js";

export const VALIDATION_PATH = "/validate";

/** A limit the CRD's schema declares, read from it so the webhook and the API server agree. */
function schemaLimit(value: number | undefined, what: string): number {
  if (value === undefined) throw new Error(`the CRD schema declares no ${what}`);
  return value;
}

const ruleSchema = featureFlagSchema.properties?.spec?.properties?.rules as JSONSchema;
/**
 * What compiling one object may cost: the API server enforces these limits before it calls the
 * webhook, but a request sent straight to the webhook has passed no schema at all.
 */
export const COMPILE_LIMITS = {
  rules: schemaLimit(ruleSchema?.maxItems, "spec.rules maxItems"),
  ruleWhen: schemaLimit(ruleSchema?.items?.properties?.when?.maxLength, "spec.rules[].when maxLength"),
  segmentWhen: schemaLimit(
    segmentSchema.properties?.spec?.properties?.when?.maxLength,
    "spec.when maxLength",
  ),
} as const;

/** Characters as the API server counts them for maxLength (code points, not UTF-16 units). */
function tooLong(text: string, max: number): boolean {
  if (text.length <= max) return false;
  if (text.length > 2 * max) return true;
  let count = 0;
  for (const _ of text) if (++count > max) return true;
  return false;
}

/**
 * The CRD's limits on what would be compiled (any kind's spec.when and spec.rules[].when), in the
 * API server's words; checked before anything is compiled, so the work per request is bounded
 * whoever sends it.
 */
export function limitProblems(spec: unknown): Problem[] {
  if (spec === null || typeof spec !== "object") return [];
  const problems: Problem[] = [];
  const checkLength = (field: string, value: unknown, max: number) => {
    if (typeof value === "string" && tooLong(value, max))
      problems.push({ field, message: `Too long: may not be more than ${max} characters` });
  };
  const { rules, when } = spec as { rules?: unknown; when?: unknown };
  checkLength("spec.when", when, COMPILE_LIMITS.segmentWhen);
  if (!Array.isArray(rules)) return problems;
  if (rules.length > COMPILE_LIMITS.rules) {
    problems.push({
      field: "spec.rules",
      message: `Too many: ${rules.length}: must have at most ${COMPILE_LIMITS.rules} items`,
    });
    return problems;
  }
  for (const [i, rule] of rules.entries()) {
    checkLength(`spec.rules[${i}].when`, (rule as { when?: unknown } | null)?.when, COMPILE_LIMITS.ruleWhen);
  }
  return problems;
}

type ValidationAnswer = ReturnType<typeof admissionResponse<AdmissionDecision>>;
type Decision = { answer: ValidationAnswer; reason?: "LimitExceeded" | "InvalidExpression" };

/** The AdmissionReview answering one request: allowed, or refused naming every bad expression. */
export function validationReview(body: unknown): ValidationAnswer {
  const steps = decide(body);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value.answer;
  }
}

/**
 * validationReview as the server runs it: one expression per turn of the event loop, which the
 * operator's leases, reconciles and probes share (64 rules of 4,096 characters take a few hundred
 * milliseconds to compile in all).
 */
async function validationReviewInTurns(body: unknown): Promise<Decision> {
  const steps = decide(body);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * The answer, and for a refusal why (over the CRD's limits, or an expression that does not
 * compile); yields before compiling each expression.
 */
function* decide(body: unknown): Generator<void, Decision> {
  const request = admissionRequest<{ kind?: string; spec?: unknown; metadata?: { name?: string } }>(body);
  const object = request.object;
  const kind = object?.kind ?? request.kind?.kind;
  if (request.operation === "DELETE" || !object || (kind !== KIND && kind !== SEGMENT_KIND)) {
    return { answer: admissionResponse(request.uid, { allowed: true }) };
  }
  const overLimit = limitProblems(object.spec);
  const problems = overLimit;
  if (overLimit.length === 0) {
    for (const { field, source } of expressionFields(object.spec)) {
      yield;
      const problem = expressionProblem(field, source);
      if (problem) problems.push(problem);
    }
    problems.push(...prometheusAddressProblems(object.spec));
  }
  if (problems.length === 0) return { answer: admissionResponse(request.uid, { allowed: true }) };
  const message = problems.map((p) => `${p.field}: ${p.message}`).join("; ");
  return {
    answer: admissionResponse(request.uid, {
      allowed: false,
      status: { code: 422, message: `${kind} ${object.metadata?.name ?? ""} is invalid: ${message}` },
    }),
    reason: overLimit.length > 0 ? "LimitExceeded" : "InvalidExpression",
  };
}

/** The handler of POST /validate: validationReview in turns, refusals logged. */
export function validationRoute(log?: Logger): AdmissionHandler {
  return async (body: unknown) => {
    const { answer, reason } = await validationReviewInTurns(body);
    if (!answer.response.allowed) {
      const request = (body as { request?: { namespace?: string } }).request;
      log?.info(
        { namespace: request?.namespace, reason, err: answer.response.status?.message },
        reason === "LimitExceeded"
          ? "refused an object over the CRD's limits before compiling it"
          : "refused a targeting rule that does not compile",
      );
    }
    return answer;
  };
}

/** A server with the /validate route alone (the operator mounts both routes on one, injection/admission.ts). */
export function startValidationServer(options: {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  log?: Logger;
}): Promise<AdmissionServer> {
  return startAdmissionServer({ ...options, routes: { [VALIDATION_PATH]: validationRoute(options.log) } });
}
