// Sidecar injection against the real API server: the webhook (src/operator/injection/) serves
// on https://127.0.0.1:PORT with a CA it generated (kept in a Secret, patched into caBundle), and
// pods created through the API come back with the native sidecar, or unchanged.
import { randomBytes } from "node:crypto";
import { AdmissionregistrationV1Api, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { patchCaBundle } from "../../../src/operator/injection/ca-bundle.js";
import { loadOrCreateCertificates } from "../../../src/operator/injection/certificate-secret.js";
import type { WebhookCertificates } from "../../../src/operator/injection/certificates.js";
import { SIDECAR_CONTAINER } from "../../../src/operator/injection/mutation.js";
import { type InjectionServer, startInjectionServer } from "../../../src/operator/injection/webhook.js";
import { registerInjectionWebhook } from "../../support/injection-webhook.js";
import { clients, kubeConfig, testNamespace } from "../../support/kube.js";

const IMAGE = "ghcr.io/flagwright/flagwright:0.1.0";
const kc = kubeConfig();
const { core } = clients(kc);
const admission = kc.makeApiClient(AdmissionregistrationV1Api);
const webhookName = `flagwright-injector-test-${randomBytes(3).toString("hex")}`;

let ns: Awaited<ReturnType<typeof testNamespace>>;
let server: InjectionServer | undefined;
let certs: WebhookCertificates;

const pod = (
  name: string,
  extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
) =>
  ({
    metadata: { name, ...extra },
    spec: {
      automountServiceAccountToken: false,
      containers: [{ name: "app", image: "registry.example/shop:1.2.3" }],
    },
  }) as V1Pod;

const asked = {
  labels: { "flagwright.dev/inject": "true" },
  annotations: { "flagwright.dev/inject": "true" },
};

/** Creates a pod; until the API server's webhook informer has caught up, retries with a new name. */
async function createInjected(base: string, body: V1Pod): Promise<V1Pod> {
  const deadline = Date.now() + 20_000;
  for (let i = 0; ; i++) {
    const created = await core.createNamespacedPod({
      namespace: ns.name,
      body: { ...body, metadata: { ...body.metadata, name: `${base}-${i}` } },
    });
    if (created.spec?.initContainers?.some((c) => c.name === SIDECAR_CONTAINER) || Date.now() > deadline)
      return created;
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  ns = await testNamespace("inject");
  // There is no controller manager to create the default ServiceAccount the admission chain wants.
  await core.createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: "default" } } });
  // The Secret path the operator uses: created on first start, read back on the next.
  certs = await loadOrCreateCertificates(kc, ns.name, "injector-tls", { ipAddresses: ["127.0.0.1"] });
  const again = await loadOrCreateCertificates(kc, ns.name, "injector-tls", { ipAddresses: ["127.0.0.1"] });
  expect(again.caCert).toBe(certs.caCert);
  server = await startInjectionServer({
    host: "127.0.0.1",
    port: 0,
    tls: certs,
    settings: { image: IMAGE, configMapName: "flagwright-flags" },
  });
  // Only this test's namespace: the suite shares one API server.
  await registerInjectionWebhook(admission, webhookName, ns.name, server.address.port);
  expect(await patchCaBundle(kc, webhookName, certs.caCert)).toBe(true);
  expect(await patchCaBundle(kc, webhookName, certs.caCert)).toBe(false);
});

afterAll(async () => {
  await admission.deleteMutatingWebhookConfiguration({ name: webhookName }).catch(() => {});
  await server?.stop();
  await ns?.remove();
});

describe("sidecar injection webhook", () => {
  it("injects a native sidecar with the flags ConfigMap mounted into an annotated pod", async () => {
    const created = await createInjected("annotated", pod("annotated", asked));
    const init = created.spec?.initContainers ?? [];
    expect(init.map((c) => c.name)).toEqual([SIDECAR_CONTAINER]);
    const sidecar = init[0];
    expect(sidecar?.restartPolicy).toBe("Always");
    expect(sidecar?.image).toBe(IMAGE);
    expect(sidecar?.args).toEqual(["sidecar", "--listen=127.0.0.1:8016", "--file=/etc/flagwright/flags"]);
    expect(sidecar?.volumeMounts).toEqual([
      { name: "flagwright-flags", mountPath: "/etc/flagwright/flags", readOnly: true },
    ]);
    expect(created.spec?.volumes).toContainEqual({
      name: "flagwright-flags",
      configMap: { name: "flagwright-flags", optional: true, defaultMode: 420 },
    });
    expect(sidecar?.startupProbe?.exec?.command?.join(" ")).toContain("http://127.0.0.1:8016/readyz");
    expect(sidecar?.livenessProbe?.exec?.command?.join(" ")).toContain("/healthz");
    // A loaded sidecar never unloads its document: the startup probe alone gates the pod.
    expect(sidecar?.readinessProbe).toBeUndefined();
    expect(sidecar?.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(created.metadata?.annotations?.["flagwright.dev/injected"]).toBe(IMAGE);
    // The app container is untouched.
    expect(created.spec?.containers.map((c) => c.name)).toEqual(["app"]);
    // And it is what the API server stored (the pod stays Pending: there are no nodes).
    const stored = await core.readNamespacedPod({ namespace: ns.name, name: created.metadata?.name ?? "" });
    expect(stored.spec?.initContainers?.[0]?.name).toBe(SIDECAR_CONTAINER);
    expect(stored.status?.phase).toBe("Pending");
  });

  it("watches the ConfigMap through the API when annotated flagwright.dev/source: watch", async () => {
    const body = pod("watch", {
      labels: asked.labels,
      annotations: {
        ...asked.annotations,
        "flagwright.dev/source": "watch",
        "flagwright.dev/configmap": "shop-flags",
      },
    });
    const created = await createInjected("watch", body);
    const sidecar = created.spec?.initContainers?.[0];
    expect(sidecar?.args).toEqual([
      "sidecar",
      "--listen=127.0.0.1:8016",
      `--configmap=${ns.name}/shop-flags`,
    ]);
    expect(sidecar?.volumeMounts ?? []).toEqual([]);
    expect(created.spec?.volumes ?? []).not.toContainEqual(
      expect.objectContaining({ name: "flagwright-flags" }),
    );
  });

  it("points a pod annotated flagwright.dev/evaluator: shared at the namespace's shared evaluator", async () => {
    await createInjected("warmup-shared", pod("warmup-shared", asked)); // the webhook is live
    const body = pod("shared", {
      labels: asked.labels,
      annotations: { ...asked.annotations, "flagwright.dev/evaluator": "shared" },
    });
    const created = await core.createNamespacedPod({ namespace: ns.name, body });
    expect(created.spec?.initContainers ?? []).toEqual([]);
    expect(created.spec?.volumes ?? []).toEqual([]);
    expect(created.spec?.containers[0]?.env).toEqual([
      {
        name: "FLAGWRIGHT_EVALUATOR_TOKEN",
        valueFrom: { secretKeyRef: { name: "flagwright-evaluator-token", key: "token" } },
      },
      { name: "OFREP_ENDPOINT", value: `http://flagwright-evaluator.${ns.name}.svc:8016` },
      { name: "OFREP_HEADERS", value: "Authorization=Bearer $(FLAGWRIGHT_EVALUATOR_TOKEN)" },
    ]);
    expect(created.metadata?.annotations?.["flagwright.dev/injected"]).toBe(
      "shared-evaluator:flagwright-evaluator",
    );
  });

  it("leaves an unannotated pod unchanged", async () => {
    await createInjected("warmup", pod("warmup", asked)); // the webhook is live
    const body = pod("plain");
    const created = await core.createNamespacedPod({ namespace: ns.name, body });
    expect(created.spec?.initContainers ?? []).toEqual([]);
    expect(created.spec?.containers.map((c) => c.name)).toEqual(["app"]);
    expect(created.spec?.volumes ?? []).toEqual([]);
    expect(created.metadata?.annotations ?? {}).toEqual({});
  });

  it("leaves a pod that already has the sidecar alone", async () => {
    await createInjected("warmup2", pod("warmup2", asked));
    const body = pod("by-hand", asked);
    if (body.spec) {
      body.spec.initContainers = [
        {
          name: SIDECAR_CONTAINER,
          image: "my.registry/flagwright:pinned",
          restartPolicy: "Always",
          args: ["sidecar"],
        },
      ];
    }
    const created = await core.createNamespacedPod({ namespace: ns.name, body });
    expect(created.spec?.initContainers?.map((c) => `${c.name} ${c.image}`)).toEqual([
      `${SIDECAR_CONTAINER} my.registry/flagwright:pinned`,
    ]);
    expect(created.metadata?.annotations?.["flagwright.dev/injected"]).toBeUndefined();
  });

  it("a webhook outage blocks only pods that asked for the sidecar", async () => {
    await server?.stop();
    server = undefined;
    const plain = await core.createNamespacedPod({ namespace: ns.name, body: pod("plain-outage") });
    expect(plain.metadata?.name).toBe("plain-outage");
    await expect(
      core.createNamespacedPod({ namespace: ns.name, body: pod("asked-outage", asked) }),
    ).rejects.toThrow(/inject\.flagwright\.dev/);
  });
});
