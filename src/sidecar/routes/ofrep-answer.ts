// OFREP answers serialized once per shared evaluation result: a hot flag's answer is stringified
// once per document, not once per request, and the single-flag route sends it as it is.
import type { EvaluationDetails } from "../../core/evaluate.js";
import { JSON_HEADERS } from "./respond.js";

const fragments = new WeakMap<EvaluationDetails, string>();

/** The OFREP JSON of one flag's result: evaluationSuccess or evaluationFailure. */
export function fragment(key: string, r: EvaluationDetails): string {
  let s = fragments.get(r);
  if (s === undefined) {
    s = JSON.stringify(
      r.errorCode !== undefined
        ? { key, errorCode: r.errorCode, errorDetails: r.errorMessage }
        : // Every success has a value: an off variant flag without defaultValue is an error instead.
          { key, value: r.value, reason: r.reason, variant: r.variant, metadata: r.flagMetadata },
    );
    if (r.errorCode !== "FLAG_NOT_FOUND") fragments.set(r, s);
  }
  return s;
}

export interface Answer {
  readonly status: number;
  readonly body: string;
  /** Content type and length, ready for writeHead(). */
  readonly headers: string[];
}

// Complete single-flag answers per shared result object, so the hot path allocates no response parts.
const answers = new WeakMap<EvaluationDetails, Answer>();

export function answerOf(key: string, r: EvaluationDetails): Answer {
  let a = answers.get(r);
  if (a === undefined) {
    const body = fragment(key, r);
    a = {
      status: statusOf(r),
      body,
      headers: [...JSON_HEADERS, "content-length", String(Buffer.byteLength(body))],
    };
    if (r.errorCode !== "FLAG_NOT_FOUND") answers.set(r, a);
  }
  return a;
}

function statusOf(r: EvaluationDetails): number {
  switch (r.errorCode) {
    case undefined:
      return 200;
    case "FLAG_NOT_FOUND":
      return 404;
    case "TARGETING_KEY_MISSING":
    case "INVALID_CONTEXT":
      return 400;
    default:
      // GENERAL: the flag cannot be answered as configured (no defaultValue to serve, prerequisites
      // too deep). Not the request's fault, so not 400; every OFREP provider reports a 500 as GENERAL.
      return 500;
  }
}
