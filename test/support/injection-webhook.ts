// Webhook configurations confined to one test namespace (other suites share the control plane),
// as the chart registers them: a MutatingWebhookConfiguration that sends labelled pods to an
// injection webhook, and a ValidatingWebhookConfiguration for FeatureFlags and Segments
// (failurePolicy Fail both).
import type { AdmissionregistrationV1Api } from "@kubernetes/client-node";
import { GROUP, VERSION } from "../../src/api/index.js";

export async function registerInjectionWebhook(
  admission: AdmissionregistrationV1Api,
  name: string,
  namespace: string,
  port: number,
): Promise<void> {
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name },
      webhooks: [
        {
          name: "inject.flagwright.dev",
          admissionReviewVersions: ["v1"],
          sideEffects: "None",
          failurePolicy: "Fail",
          timeoutSeconds: 5,
          clientConfig: { url: `https://127.0.0.1:${port}/inject` },
          rules: [
            {
              apiGroups: [""],
              apiVersions: ["v1"],
              operations: ["CREATE"],
              resources: ["pods"],
              scope: "Namespaced",
            },
          ],
          objectSelector: { matchLabels: { "flagwright.dev/inject": "true" } },
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
        },
      ],
    },
  });
}

/**
 * Sends CREATE and UPDATE of FeatureFlags and Segments in `namespace` to `url` (…/validate). Without
 * `caBundle` the configuration is registered as the chart installs it, for the operator to patch.
 */
export async function registerValidationWebhook(
  admission: AdmissionregistrationV1Api,
  { name, namespace, url, caBundle }: { name: string; namespace: string; url: string; caBundle?: string },
): Promise<void> {
  await admission.createValidatingWebhookConfiguration({
    body: {
      metadata: { name },
      webhooks: [
        {
          name: "validate.flagwright.dev",
          admissionReviewVersions: ["v1"],
          sideEffects: "None",
          failurePolicy: "Fail",
          timeoutSeconds: 5,
          clientConfig: {
            url,
            ...(caBundle === undefined ? {} : { caBundle: Buffer.from(caBundle).toString("base64") }),
          },
          rules: [
            {
              apiGroups: [GROUP],
              apiVersions: [VERSION],
              operations: ["CREATE", "UPDATE"],
              resources: ["featureflags", "segments"],
              scope: "Namespaced",
            },
          ],
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
        },
      ],
    },
  });
}
