// An unusable certificate Secret against the real API server: the operator finds the stored CA
// does not parse (its serial padded with a zero octet, as 1 CA in 512 used to be generated),
// replaces it in place, patches the new CA into caBundle, and the API server (Go's crypto/x509)
// calls the webhook with it. Before, the bad CA was reused and every opted-in pod was refused.
import { createPrivateKey, randomBytes, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { AdmissionregistrationV1Api, KubeConfig, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadOrCreateCertificates } from "../../../src/operator/injection/certificate-secret.js";
import {
  generateCertificates,
  type WebhookCertificates,
} from "../../../src/operator/injection/certificates.js";
import { der } from "../../../src/operator/injection/der.js";
import { SIDECAR_CONTAINER } from "../../../src/operator/injection/mutation.js";
import { impersonatingKubeconfig } from "../../support/impersonation.js";
import { registerInjectionWebhook } from "../../support/injection-webhook.js";
import { clients, kubeConfig, testNamespace } from "../../support/kube.js";
import { type OperatorProcess, startOperator } from "../../support/operator.js";
import { waitFor } from "../../support/wait.js";

const kc = kubeConfig();
const { core } = clients(kc);
const admission = kc.makeApiClient(AdmissionregistrationV1Api);
const webhookName = `flagwright-injector-bad-secret-${randomBytes(3).toString("hex")}`;
const SECRET = "injector-tls";

let ns: Awaited<ReturnType<typeof testNamespace>>;
let operator: OperatorProcess | undefined;
let planted: WebhookCertificates;

/** Header and extent of the DER element at `at`. */
function element(buf: Buffer, at: number) {
  const first = buf[at + 1] as number;
  const octets = first & 0x80 ? first & 0x7f : 0;
  const length = octets ? buf.readUIntBE(at + 2, octets) : first;
  const content = at + 2 + octets;
  return { content, end: content + length };
}

/** The certificate with a zero octet put before its serial: DER no parser should accept. */
function padSerial(pem: string): string {
  const cert = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
  const tbs = element(cert, element(cert, 0).content);
  const serialAt = element(cert, tbs.content).end; // after the [0] version
  const serial = element(cert, serialAt);
  const body = Buffer.concat([
    cert.subarray(tbs.content, serialAt),
    der(0x02, Buffer.from([0]), cert.subarray(serial.content, serial.end)),
    cert.subarray(serial.end, tbs.end),
  ]);
  const padded = der(0x30, der(0x30, body), cert.subarray(tbs.end));
  const b64 = padded.toString("base64").replace(/(.{64})/g, "$1\n");
  return `-----BEGIN CERTIFICATE-----\n${b64.trimEnd()}\n-----END CERTIFICATE-----\n`;
}

const secretData = (certs: WebhookCertificates) => ({
  "ca.crt": Buffer.from(certs.caCert).toString("base64"),
  "ca.key": Buffer.from(certs.caKey).toString("base64"),
  "tls.crt": Buffer.from(certs.cert).toString("base64"),
  "tls.key": Buffer.from(certs.key).toString("base64"),
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  ns = await testNamespace("inject-bad-secret");
  await core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: "default" } } });
  const good = generateCertificates({ dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
  planted = { ...good, caCert: padSerial(good.caCert) };
  expect(() => new X509Certificate(planted.caCert)).toThrow(/illegal padding/);
  await core.createNamespacedSecret({
    namespace: ns.name,
    body: {
      metadata: { name: SECRET, labels: { "app.kubernetes.io/managed-by": "flagwright" } },
      type: "Opaque",
      data: secretData(planted),
    },
  });
  const port = await freePort();
  await registerInjectionWebhook(admission, webhookName, ns.name, port);
  operator = await startOperator(
    [
      `--namespaces=${ns.name}`,
      `--injection-address=127.0.0.1:${port}`,
      `--injection-webhook-config=${webhookName}`,
      `--injection-cert-secret=${SECRET}`,
      "--injection-dns-names=localhost",
      "--sidecar-image=ghcr.io/flagwright/flagwright:bad-secret-test",
    ],
    { env: { POD_NAMESPACE: ns.name } },
  );
});

afterAll(async () => {
  await operator?.stop();
  await admission.deleteMutatingWebhookConfiguration({ name: webhookName }).catch(() => {});
  await ns?.remove();
});

describe("a stored webhook certificate that is not usable", () => {
  it("is replaced in the Secret, patched into caBundle and served, so the API server injects pods", async () => {
    // failurePolicy Fail: a webhook the API server cannot verify refuses the pod outright.
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
    expect(created.spec?.initContainers?.[0]?.name).toBe(SIDECAR_CONTAINER);
    expect(operator?.logs).toContainEqual(
      expect.objectContaining({
        reason: "CertificateSecretReplaced",
        namespace: ns.name,
        secret: SECRET,
        err: expect.stringMatching(/^ca\.crt does not parse as an X\.509 certificate: .*illegal padding/),
      }),
    );
    const secret = await core.readNamespacedSecret({ namespace: ns.name, name: SECRET });
    const caCert = Buffer.from(secret.data?.["ca.crt"] ?? "", "base64").toString("utf8");
    expect(caCert).not.toBe(planted.caCert);
    expect(new X509Certificate(caCert).ca).toBe(true);
    const config = await admission.readMutatingWebhookConfiguration({ name: webhookName });
    expect(config.webhooks?.[0]?.clientConfig.caBundle).toBe(secret.data?.["ca.crt"]);
  });

  it("a serving key that does not match is re-issued from the stored CA through a real update", async () => {
    const hosts = { ipAddresses: ["127.0.0.1"] };
    const stored = generateCertificates(hosts);
    const other = generateCertificates(hosts);
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: {
        metadata: { name: "mismatched-tls" },
        type: "Opaque",
        data: secretData({ ...stored, key: other.key }),
      },
    });
    const before = await core.readNamespacedSecret({ namespace: ns.name, name: "mismatched-tls" });
    const log = pino({ enabled: false });
    const served = await loadOrCreateCertificates(kc, ns.name, "mismatched-tls", hosts, { log });
    expect(served.caCert).toBe(stored.caCert);
    expect(new X509Certificate(served.cert).checkPrivateKey(createPrivateKey(served.key))).toBe(true);
    const after = await core.readNamespacedSecret({ namespace: ns.name, name: "mismatched-tls" });
    expect(after.metadata?.resourceVersion).not.toBe(before.metadata?.resourceVersion);
    expect(Buffer.from(after.data?.["tls.key"] ?? "", "base64").toString("utf8")).toBe(served.key);
    // Read back on the next start, it is served as stored.
    expect(await loadOrCreateCertificates(kc, ns.name, "mismatched-tls", hosts, { log })).toEqual(served);
  });

  it.each([
    // The one admission server's certificate Secret (both webhooks).
    ["deploy/admission.yaml", "flagwright-webhook", "flagwright-webhook-tls"],
  ])("the Secret Role of %s is enough to replace it", async (file, roleName, secretName) => {
    const text = readFileSync(new URL(`../../../${file}`, import.meta.url), "utf8");
    const role = parseAllDocuments(text)
      .map((d) => d.toJS() as { kind: string; metadata: { name: string }; rules: unknown[] })
      .find((d) => d.kind === "Role" && d.metadata.name === roleName);
    expect(role, `Role ${roleName} in ${file}`).toBeDefined();
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const user = `${roleName}-${ns.name}`;
    await rbac.createNamespacedRole({
      namespace: ns.name,
      body: { metadata: { name: roleName }, rules: role?.rules as never },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns.name,
      body: {
        metadata: { name: roleName },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: roleName },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
      },
    });
    const hosts = { dnsNames: ["localhost"] };
    const good = generateCertificates(hosts);
    await core.createNamespacedSecret({
      namespace: ns.name,
      body: {
        metadata: { name: secretName },
        type: "Opaque",
        data: secretData({ ...good, caCert: "garbage" }),
      },
    });
    const asOperator = new KubeConfig();
    asOperator.loadFromFile(impersonatingKubeconfig(user));
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    // RBAC is eventually consistent: the binding may take a moment to authorize the update.
    const served = await waitFor(
      async () => {
        lines.length = 0;
        const certs = await loadOrCreateCertificates(asOperator, ns.name, secretName, hosts, { log });
        return lines.some((l) => l.reason === "CertificateSecretNotWritten") ? undefined : certs;
      },
      { timeoutMs: 10_000, intervalMs: 250, what: `${user} updating Secret ${secretName}` },
    );
    const stored = await core.readNamespacedSecret({ namespace: ns.name, name: secretName });
    expect(Buffer.from(stored.data?.["ca.crt"] ?? "", "base64").toString("utf8")).toBe(served.caCert);
  });
});
