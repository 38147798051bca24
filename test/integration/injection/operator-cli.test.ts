// `flagwright operator --injection-address ... --validation-address ...` as a real process: one
// admission server on one address with one certificate Secret; it patches the one CA into both
// webhook configurations, the API server injects the sidecar through /inject and refuses a rule
// that does not compile through /validate.
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { AdmissionregistrationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { stringify } from "yaml";
import { SIDECAR_CONTAINER } from "../../../src/operator/injection/mutation.js";
import { flagManifest } from "../../fixtures/invalid-flags.js";
import { registerInjectionWebhook, registerValidationWebhook } from "../../support/injection-webhook.js";
import { clients, kubeConfig, kubectl, testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { waitFor } from "../../support/wait.js";

const kc = kubeConfig();
const { core } = clients(kc);
const admission = kc.makeApiClient(AdmissionregistrationV1Api);
const webhookName = `flagwright-injector-cli-${randomBytes(3).toString("hex")}`;
const validationName = `${webhookName}-validation`;
const IMAGE = "ghcr.io/flagwright/flagwright:cli-test";

let ns: Awaited<ReturnType<typeof testNamespace>>;
let operator: OperatorProcess | undefined;
let port: number;

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
  port = await freePort();
  await registerInjectionWebhook(admission, webhookName, ns.name, port);
  // As the chart installs it: no caBundle until the operator patches the one CA in.
  await registerValidationWebhook(admission, {
    name: validationName,
    namespace: ns.name,
    url: `https://127.0.0.1:${port}/validate`,
  });
  operator = await startOperator(
    [
      `--namespaces=${ns.name}`,
      `--injection-address=127.0.0.1:${port}`,
      `--injection-webhook-config=${webhookName}`,
      "--injection-cert-secret=injector-tls",
      "--injection-dns-names=localhost",
      `--sidecar-image=${IMAGE}`,
      // The same server and Secret: the validation route joins it.
      `--validation-address=127.0.0.1:${port}`,
      `--validation-webhook-config=${validationName}`,
      "--validation-cert-secret=injector-tls",
    ],
    { env: { POD_NAMESPACE: ns.name } },
  );
});

afterAll(async () => {
  await operator?.stop();
  await admission.deleteMutatingWebhookConfiguration({ name: webhookName }).catch(() => {});
  await admission.deleteValidatingWebhookConfiguration({ name: validationName }).catch(() => {});
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

it("serves /validate from the same server, with the same CA in the ValidatingWebhookConfiguration", async () => {
  const secret = await core.readNamespacedSecret({ namespace: ns.name, name: "injector-tls" });
  const config = await admission.readValidatingWebhookConfiguration({ name: validationName });
  expect(config.webhooks?.[0]?.clientConfig.caBundle).toBe(secret.data?.["ca.crt"]);
  const started = operator?.logs.filter(
    (l) => l.reason === "InjectionStarted" || l.reason === "ValidationStarted",
  );
  expect(started?.map((l) => l.address)).toEqual([`127.0.0.1:${port}`, `127.0.0.1:${port}`]);
  const bad = stringify({
    ...flagManifest("bad", {
      enabled: true,
      rules: [{ name: "r", when: "country ==", serve: { enabled: true } }],
    }),
    metadata: { name: "bad", namespace: ns.name },
  });
  // The API server takes a moment to use the patched caBundle: until then the call fails TLS.
  const out = await waitFor(
    async () => {
      const answer = await kubectl(["apply", "-f", "-"], bad).then(
        (o) => o,
        (e: Error) => e.message,
      );
      return answer.includes("denied the request") ? answer : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 250, what: "the validation webhook refusing a bad rule" },
  );
  expect(out).toMatch(/spec\.rules\[0\]\.when: invalid CEL at 1:11: /);
});
