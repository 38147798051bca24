// The validating admission webhook for targeting: the API server cannot compile the CEL users write
// in spec.rules[].when and a Segment's spec.when (its own CEL knows only `self`), so the operator
// does, on POST /validate, and refuses the object with the field path, the position in the
// expression and the compiler's message. The schema itself is the API server's job. TLS and the
// AdmissionReview envelope are the injection webhook's (src/operator/injection/).
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { KIND, SEGMENT_KIND } from "../api/schema.js";
import { expressionProblems, prometheusAddressProblems } from "../api/validate.js";
import { parseHostPort } from "../host-port.js";
import { type AdmissionDecision, admissionRequest, admissionResponse } from "./injection/admission-review.js";
import { type AdmissionServer, startAdmissionServer } from "./injection/admission-server.js";
import { installCaBundle } from "./injection/ca-bundle.js";
import { loadOrCreateCertificates } from "./injection/certificate-secret.js";
import { generateCertificates } from "./injection/certificates.js";

export const VALIDATION_PATH = "/validate";

/** The AdmissionReview answering one request: allowed, or refused naming every bad expression. */
export function validationReview(body: unknown): ReturnType<typeof admissionResponse<AdmissionDecision>> {
  const request = admissionRequest<{ kind?: string; spec?: unknown; metadata?: { name?: string } }>(body);
  const object = request.object;
  const kind = object?.kind ?? request.kind?.kind;
  if (request.operation === "DELETE" || !object || (kind !== KIND && kind !== SEGMENT_KIND)) {
    return admissionResponse(request.uid, { allowed: true });
  }
  const problems = [...expressionProblems(object.spec), ...prometheusAddressProblems(object.spec)];
  if (problems.length === 0) return admissionResponse(request.uid, { allowed: true });
  const message = problems.map((p) => `${p.field}: ${p.message}`).join("; ");
  return admissionResponse(request.uid, {
    allowed: false,
    status: { code: 422, message: `${kind} ${object.metadata?.name ?? ""} is invalid: ${message}` },
  });
}

/** Serves validationReview on POST /validate with this certificate. */
export function startValidationServer(options: {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  log?: Logger;
}): Promise<AdmissionServer> {
  const validate = (body: unknown) => {
    const answer = validationReview(body);
    if (!answer.response.allowed) {
      const request = (body as { request?: { namespace?: string } }).request;
      options.log?.info(
        { namespace: request?.namespace, reason: "InvalidExpression", err: answer.response.status?.message },
        "refused a targeting rule that does not compile",
      );
    }
    return answer;
  };
  return startAdmissionServer({ ...options, routes: { [VALIDATION_PATH]: validate } });
}

/** Options of `flagwright operator --validation-address ...`. */
export interface ValidationOptions {
  address: string;
  /** Secret (in `namespace`) keeping the CA and serving certificate; without it they live in memory. */
  certSecret?: string;
  namespace: string;
  /** ValidatingWebhookConfiguration whose caBundle is patched. */
  webhookConfig?: string;
  dnsNames: string[];
}

/** Loads (or generates) the certificate, patches caBundle and serves the webhook. */
export async function startValidation(
  kc: KubeConfig,
  options: ValidationOptions,
  log: Logger,
): Promise<AdmissionServer> {
  const { host, port } = parseHostPort(options.address, {
    flag: "--validation-address",
    defaultHost: "0.0.0.0",
  });
  const hosts = { dnsNames: options.dnsNames, ipAddresses: ["127.0.0.1"] };
  const certs = options.certSecret
    ? await loadOrCreateCertificates(kc, options.namespace, options.certSecret, hosts)
    : generateCertificates(hosts);
  const server = await startValidationServer({
    host,
    port,
    tls: certs,
    log,
  });
  if (options.webhookConfig) {
    await installCaBundle(
      kc,
      "ValidatingWebhookConfiguration",
      options.webhookConfig,
      certs.caCert,
      log,
      () => server.stop(),
    );
  }
  log.info(
    { reason: "ValidationStarted", address: `${server.address.address}:${server.address.port}` },
    "targeting validation webhook serving",
  );
  return server;
}
