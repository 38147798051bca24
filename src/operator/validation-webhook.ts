// The validating admission webhook for targeting: the API server cannot compile the CEL users write
// in spec.rules[].when and a Segment's spec.when (its own CEL knows only `self`), so the operator
// does, on POST /validate, and refuses the object with the field path, the position in the
// expression and the compiler's message. The schema itself is the API server's job. TLS and the
// AdmissionReview envelope are the injection webhook's (src/operator/injection/).
import {
  AdmissionregistrationV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { KIND, SEGMENT_KIND } from "../api/schema.js";
import { expressionProblems } from "../api/validate.js";
import { type AdmissionDecision, admissionRequest, admissionResponse } from "./injection/admission-review.js";
import { type AdmissionServer, startAdmissionServer } from "./injection/admission-server.js";
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
  const problems = expressionProblems(object.spec);
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

const jsonPatch = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);

/** Writes the CA into every webhook's caBundle of a ValidatingWebhookConfiguration (if it differs). */
export async function patchValidatingCaBundle(
  kc: KubeConfig,
  name: string,
  caCert: string,
): Promise<boolean> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const bundle = Buffer.from(caCert).toString("base64");
  for (let attempt = 1; ; attempt++) {
    const config = await api.readValidatingWebhookConfiguration({ name });
    const ops = (config.webhooks ?? []).flatMap((w, i) =>
      w.clientConfig.caBundle === bundle
        ? []
        : [
            {
              op: w.clientConfig.caBundle ? "replace" : "add",
              path: `/webhooks/${i}/clientConfig/caBundle`,
              value: bundle,
            },
          ],
    );
    if (ops.length === 0) return false;
    try {
      await api.patchValidatingWebhookConfiguration(
        {
          name,
          body: [
            { op: "test", path: "/metadata/resourceVersion", value: config.metadata?.resourceVersion },
            ...ops,
          ],
        },
        jsonPatch,
      );
      return true;
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (attempt >= 5 || (code !== 409 && code !== 422)) throw error;
    }
  }
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
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(options.address);
  if (!m) throw new Error(`--validation-address must be host:port or :port, got "${options.address}"`);
  const hosts = { dnsNames: options.dnsNames, ipAddresses: ["127.0.0.1"] };
  const certs = options.certSecret
    ? await loadOrCreateCertificates(kc, options.namespace, options.certSecret, hosts)
    : generateCertificates(hosts);
  const server = await startValidationServer({
    host: m[1] ?? (m[2] || "0.0.0.0"),
    port: Number(m[3]),
    tls: certs,
    log,
  });
  if (options.webhookConfig) {
    try {
      const patched = await patchValidatingCaBundle(kc, options.webhookConfig, certs.caCert);
      log.info(
        { reason: patched ? "CaBundlePatched" : "CaBundleCurrent", webhook: options.webhookConfig },
        "webhook caBundle",
      );
    } catch (error) {
      await server.stop();
      throw new Error(
        `patching caBundle of ValidatingWebhookConfiguration ${options.webhookConfig}: ${(error as Error).message}`,
      );
    }
  }
  log.info(
    { reason: "ValidationStarted", address: `${server.address.address}:${server.address.port}` },
    "targeting validation webhook serving",
  );
  return server;
}
