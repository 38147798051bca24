// The webhook certificates kept in a Secret shared by the operator's replicas.
import type { KubeConfig } from "@kubernetes/client-node";
import { CoreV1Api } from "../../kube/client.js";
import {
  type CertificateHosts,
  coversHosts,
  generateCertificates,
  issueServing,
  type WebhookCertificates,
} from "./certificates.js";

/**
 * The webhook certificates from the Secret `namespace/name`, created with a new CA when it does
 * not exist. Replicas race safely: the loser of a create gets 409 and reads the winner's Secret.
 * A stored serving certificate that no longer covers the names (or expires within 30 days) is
 * re-issued from the stored CA in memory, so the caBundle stays valid.
 */
export async function loadOrCreateCertificates(
  kc: KubeConfig,
  namespace: string,
  name: string,
  hosts: CertificateHosts,
  now = new Date(),
): Promise<WebhookCertificates> {
  const core = kc.makeApiClient(CoreV1Api);
  const decode = (data: Record<string, string> | undefined, key: string) =>
    data?.[key] ? Buffer.from(data[key], "base64").toString("utf8") : "";
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const secret = await core.readNamespacedSecret({ namespace, name });
      const stored = {
        caCert: decode(secret.data, "ca.crt"),
        caKey: decode(secret.data, "ca.key"),
        cert: decode(secret.data, "tls.crt"),
        key: decode(secret.data, "tls.key"),
      };
      if (!stored.caCert || !stored.caKey)
        throw new Error(`Secret ${namespace}/${name} lacks ca.crt or ca.key`);
      if (stored.cert && stored.key && coversHosts(stored.cert, hosts, now)) return stored;
      return { ...stored, ...issueServing(stored, hosts, now) };
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
    }
    const fresh = generateCertificates(hosts, now);
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    try {
      await core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name, namespace, labels: { "app.kubernetes.io/managed-by": "flagwright" } },
          type: "Opaque",
          data: {
            "ca.crt": b64(fresh.caCert),
            "ca.key": b64(fresh.caKey),
            "tls.crt": b64(fresh.cert),
            "tls.key": b64(fresh.key),
          },
        },
      });
      return fresh;
    } catch (error) {
      if ((error as { code?: number }).code !== 409) throw error;
    }
  }
  throw new Error(`could not read or create the webhook certificate Secret ${namespace}/${name}`);
}
