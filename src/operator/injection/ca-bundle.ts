// Keeping a webhook configuration's caBundle on the CA the operator serves with.
import { X509Certificate } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { AdmissionregistrationV1Api, PatchStrategy, setHeaderOptions } from "../../kube/client.js";

const jsonPatch = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);

/** Which kind of admission webhook configuration holds the caBundle. */
export type WebhookConfigKind = "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration";

/**
 * Refuses a caBundle the API server could not use: with a CA that does not parse, is no CA or has
 * expired, every call of the webhook would fail TLS (and failurePolicy Fail refuses the request).
 */
export function checkCaBundle(caCert: string, now = new Date()): void {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(caCert);
  } catch (error) {
    throw new Error(`caBundle: the CA does not parse as an X.509 certificate: ${(error as Error).message}`);
  }
  if (!x509.ca) throw new Error("caBundle: the certificate is not a CA certificate");
  if (new Date(x509.validTo).getTime() <= now.getTime())
    throw new Error(`caBundle: the CA expired on ${x509.validTo}`);
}

/**
 * Writes the CA into every webhook's caBundle of the configuration (if it differs), after
 * checkCaBundle. The patch is conditional on the resourceVersion read; a concurrent writer makes
 * it re-read.
 */
export async function patchCaBundle(
  kc: KubeConfig,
  configName: string,
  caCert: string,
  kind: WebhookConfigKind = "MutatingWebhookConfiguration",
): Promise<boolean> {
  checkCaBundle(caCert);
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const read = (name: string) =>
    kind === "MutatingWebhookConfiguration"
      ? api.readMutatingWebhookConfiguration({ name })
      : api.readValidatingWebhookConfiguration({ name });
  const patch = (name: string, body: object[]) =>
    kind === "MutatingWebhookConfiguration"
      ? api.patchMutatingWebhookConfiguration({ name, body }, jsonPatch)
      : api.patchValidatingWebhookConfiguration({ name, body }, jsonPatch);
  const bundle = Buffer.from(caCert).toString("base64");
  for (let attempt = 1; ; attempt++) {
    const config = await read(configName);
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
      await patch(configName, [
        { op: "test", path: "/metadata/resourceVersion", value: config.metadata?.resourceVersion },
        ...ops,
      ]);
      return true;
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (attempt >= 5 || (code !== 409 && code !== 422)) throw error;
    }
  }
}

/**
 * Patches the caBundle at start-up and logs the outcome; on failure stops the server just started
 * and throws an error naming the configuration.
 */
export async function installCaBundle(
  kc: KubeConfig,
  kind: WebhookConfigKind,
  configName: string,
  caCert: string,
  log: Logger,
  stopServer: () => Promise<void>,
): Promise<void> {
  try {
    const patched = await patchCaBundle(kc, configName, caCert, kind);
    log.info(
      { reason: patched ? "CaBundlePatched" : "CaBundleCurrent", webhook: configName },
      "webhook caBundle",
    );
  } catch (error) {
    await stopServer();
    throw new Error(`patching caBundle of ${kind} ${configName}: ${(error as Error).message}`);
  }
}
