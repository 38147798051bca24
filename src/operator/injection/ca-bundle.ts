// Keeping a webhook configuration's caBundle on the CA the operator serves with.
import {
  AdmissionregistrationV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";

const jsonPatch = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);

/**
 * Writes the CA into every webhook's caBundle of a MutatingWebhookConfiguration (if it differs).
 * The patch is conditional on the resourceVersion read; a concurrent writer makes it re-read.
 */
export async function patchCaBundle(kc: KubeConfig, configName: string, caCert: string): Promise<boolean> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const bundle = Buffer.from(caCert).toString("base64");
  for (let attempt = 1; ; attempt++) {
    const config = await api.readMutatingWebhookConfiguration({ name: configName });
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
      await api.patchMutatingWebhookConfiguration(
        {
          name: configName,
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
