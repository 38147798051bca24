// The admission.k8s.io/v1 AdmissionReview envelope, shared by every webhook the operator serves:
// checks a request and builds the response around a webhook's decision.

export interface AdmissionRequest<T = unknown> {
  uid: string;
  namespace?: string;
  operation?: string;
  object?: T;
  kind?: { group?: string; version?: string; kind?: string };
}

export interface AdmissionReview<T = unknown> {
  apiVersion?: string;
  kind?: string;
  request?: AdmissionRequest<T>;
}

/** What a webhook decides for one request; `uid` and the envelope are added around it. */
export interface AdmissionDecision {
  allowed: boolean;
  status?: { code?: number; message?: string };
  patchType?: "JSONPatch";
  /** base64 of the JSON patch. */
  patch?: string;
  warnings?: string[];
}

/** The request of a v1 AdmissionReview; throws a message for the 400 answer otherwise. */
export function admissionRequest<T>(body: unknown): AdmissionRequest<T> {
  const review = body as AdmissionReview<T> | null;
  // Only the v1 review the webhook configurations ask for (admissionReviewVersions: ["v1"]).
  if (review === null || typeof review !== "object" || review.kind !== "AdmissionReview")
    throw new Error("not an AdmissionReview");
  if (review.apiVersion !== "admission.k8s.io/v1")
    throw new Error(
      `unsupported AdmissionReview version ${JSON.stringify(review.apiVersion)}, want admission.k8s.io/v1`,
    );
  const request = review.request;
  if (typeof request?.uid !== "string" || request.uid === "")
    throw new Error("not an AdmissionReview request (no request.uid)");
  return request;
}

/** The AdmissionReview answering request `uid`. */
export function admissionResponse<D extends AdmissionDecision>(uid: string, decision: D) {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: { uid, ...decision },
  };
}
