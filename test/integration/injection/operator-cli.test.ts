// `flagwright operator --injection-address ...` as a real process: it creates the certificate
// Secret, patches the CA into the MutatingWebhookConfiguration, serves the webhook, and the API
// server injects the sidecar through it.
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { AdmissionregistrationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { SIDECAR_CONTAINER } from "../../../src/operator/injection/mutation.js";
import { registerInjectionWebhook } from "../../support/injection-webhook.js";
import { clients, kubeConfig, testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { waitFor } from "../../support/wait.js";

const kc = kubeConfig();
const { core } = clients(kc);
const admission = kc.makeApiClient(AdmissionregistrationV1Api);
const webhookName = `flagwright-injector-cli-${randomBytes(3).toString("hex")}`;
const IMAGE = "ghcr.io/flagwright/flagwright:cli-test";

let ns: Awaited<ReturnType<typeof testNamespace>>;
let operator: OperatorProcess | undefined;

/** A port that was free a moment ago (the operator binds it next). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  ns = await testNamespace("inject-cli");
  await core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: "default" } } });
  const port = await freePort();
  await registerInjectionWebhook(admission, webhookName, ns.name, port);
  operator = await startOperator(
    [
      `--namespaces=${ns.name}`,
      `--injection-address=127.0.0.1:${port}`,
      `--injection-webhook-config=${webhookName}`,
      "--injection-cert-secret=injector-tls",
      "--injection-dns-names=localhost",
      `--sidecar-image=${IMAGE}`,
    ],
    { env: { POD_NAMESPACE: ns.name } },
  );
});

afterAll(async () => {
  await operator?.stop();
  await admission.deleteMutatingWebhookConfiguration({ name: webhookName }).catch(() => {});
  await ns?.remove();
});

it("stores its CA in a Secret, patches caBundle and injects pods through the API server", async () => {
  expect(operator?.logs.find((l) => l.reason === "CaBundlePatched")).toBeDefined();
  const secret = await core.readNamespacedSecret({ namespace: ns.name, name: "injector-tls" });
  const config = await admission.readMutatingWebhookConfiguration({ name: webhookName });
  expect(config.webhooks?.[0]?.clientConfig.caBundle).toBe(secret.data?.["ca.crt"]);
  expect(secret.metadata?.labels?.["app.kubernetes.io/managed-by"]).toBe("flagwright");

  const created = await waitFor(
    async () => {
      const pod = await core.createNamespacedPod({
        namespace: ns.name,
        body: {
          metadata: {
            generateName: "app-",
            labels: { "flagwright.dev/inject": "true" },
            annotations: { "flagwright.dev/inject": "true" },
          },
          spec: {
            automountServiceAccountToken: false,
            containers: [{ name: "app", image: "registry.example/app:1" }],
          },
        },
      });
      return pod.spec?.initContainers?.length ? pod : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 250, what: "a pod created with the sidecar injected" },
  );
  expect(created.spec?.initContainers?.[0]).toMatchObject({
    name: SIDECAR_CONTAINER,
    image: IMAGE,
    restartPolicy: "Always",
  });
  // The log line is written before the answer but read from the process's stdout after it.
  await waitFor(() => operator?.logs.find((l) => l.reason === "Injected"), {
    timeoutMs: 5_000,
    what: "the Injected log line",
  });
});
