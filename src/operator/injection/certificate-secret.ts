// The admission server's certificates kept in one Secret shared by the operator's replicas.
import type { KubeConfig, V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { CoreV1Api } from "../../kube/client.js";
import { createLogger } from "../../log.js";
import {
  type CertificateHosts,
  caProblem,
  generateCertificates,
  issueServing,
  servingProblem,
  type WebhookCertificates,
} from "./certificates.js";

const ATTEMPTS = 5;

const b64 = (s: string) => Buffer.from(s).toString("base64");
const decode = (data: Record<string, string> | undefined, key: string) =>
  data?.[key] ? Buffer.from(data[key], "base64").toString("utf8") : "";

const secretData = (certs: WebhookCertificates) => ({
  "ca.crt": b64(certs.caCert),
  "ca.key": b64(certs.caKey),
  "tls.crt": b64(certs.cert),
  "tls.key": b64(certs.key),
});

/**
 * The webhook certificates from the Secret `namespace/name`, created with a new CA when it does
 * not exist. Nothing stored is served unchecked: a CA that does not parse, does not match its key
 * or is (nearly) expired is replaced with a new CA and serving certificate; a serving certificate
 * with such a problem, or one no longer covering the names, is re-issued from the stored CA. Either
 * replacement is written back, conditional on the resourceVersion read, and logged naming the
 * Secret and the reason. Replicas race safely: the loser of a create or update gets 409, reads
 * the winner's Secret and checks it in turn.
 */
export async function loadOrCreateCertificates(
  kc: KubeConfig,
  namespace: string,
  name: string,
  hosts: CertificateHosts,
  options: { now?: Date; log?: Logger } = {},
): Promise<WebhookCertificates> {
  const now = options.now ?? new Date();
  const at: SecretAt = {
    core: kc.makeApiClient(CoreV1Api),
    namespace,
    name,
    log: options.log ?? createLogger("operator"),
  };
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const secret = await readSecret(at);
    const certs = secret ? await checkStored(at, secret, hosts, now) : await createSecret(at, hosts, now);
    if (certs) return certs;
  }
  throw new Error(`could not read or write the webhook certificate Secret ${namespace}/${name}`);
}

/** The Secret's client and place, and where to log about it. */
interface SecretAt {
  core: CoreV1Api;
  namespace: string;
  name: string;
  log: Logger;
}

const conflict = (error: unknown) => (error as { code?: number }).code === 409;

async function readSecret({ core, namespace, name }: SecretAt): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ namespace, name });
  } catch (error) {
    if ((error as { code?: number }).code !== 404) throw error;
    return undefined;
  }
}

/** A new CA and serving certificate in a new Secret; undefined when another replica created it first. */
async function createSecret(at: SecretAt, hosts: CertificateHosts, now: Date) {
  const fresh = generateCertificates(hosts, now);
  try {
    await at.core.createNamespacedSecret({
      namespace: at.namespace,
      body: {
        metadata: {
          name: at.name,
          namespace: at.namespace,
          labels: { "app.kubernetes.io/managed-by": "flagwright" },
        },
        type: "Opaque",
        data: secretData(fresh),
      },
    });
    return fresh;
  } catch (error) {
    if (!conflict(error)) throw error;
    return undefined;
  }
}

/**
 * The stored certificates when usable, else their replacement written back (a new CA, or a serving
 * certificate re-issued from the stored CA); undefined when another replica wrote first.
 */
async function checkStored(at: SecretAt, secret: V1Secret, hosts: CertificateHosts, now: Date) {
  const stored = {
    caCert: decode(secret.data, "ca.crt"),
    caKey: decode(secret.data, "ca.key"),
    cert: decode(secret.data, "tls.crt"),
    key: decode(secret.data, "tls.key"),
  };
  const badCa = caProblem(stored, now);
  if (badCa) {
    const fresh = generateCertificates(hosts, now);
    return (await writeBack(at, secret, fresh, "CertificateSecretReplaced", badCa)) ? fresh : undefined;
  }
  const badServing = servingProblem(stored, hosts, now);
  if (!badServing) return stored;
  const reissued = { ...stored, ...issueServing(stored, hosts, now) };
  return (await writeBack(at, secret, reissued, "ServingCertificateReissued", badServing))
    ? reissued
    : undefined;
}

/** Writes the replacement over `secret`; false when another replica wrote first. */
async function writeBack(
  { core, namespace, name, log }: SecretAt,
  secret: V1Secret,
  certs: WebhookCertificates,
  reason: string,
  problem: string,
): Promise<boolean> {
  try {
    await core.replaceNamespacedSecret({
      namespace,
      name,
      body: { ...secret, data: { ...secret.data, ...secretData(certs) } },
    });
  } catch (error) {
    if (conflict(error)) return false;
    // Serving the replacement from memory beats refusing every admission request: the Secret
    // keeps its problem until the operator may update it, and each start replaces it again.
    log.error(
      { reason: "CertificateSecretNotWritten", namespace, secret: name, err: (error as Error).message },
      "could not write the replacement webhook certificates back; serving them from memory",
    );
  }
  log.warn({ reason, namespace, secret: name, err: problem }, "replaced unusable webhook certificates");
  return true;
}
