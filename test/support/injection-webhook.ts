// A MutatingWebhookConfiguration that sends the labelled pods of one test namespace to an injection
// webhook on 127.0.0.1, as the chart's does (failurePolicy Fail, CREATE of pods, opt-in label).
import type { AdmissionregistrationV1Api } from "@kubernetes/client-node";

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
