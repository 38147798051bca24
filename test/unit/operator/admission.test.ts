// The operator's one admission server: the flags resolve to one address, one certificate and the
// routes that are on; one HTTPS server answers POST /inject and POST /validate with that
// certificate.
import { request } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { admissionOptions, startAdmission } from "../../../src/operator/injection/admission.js";

const INJECTION = {
  injectionAddress: ":9443",
  injectionCertSecret: "fw-webhook-tls",
  injectionDnsNames: "op.ns.svc, op.ns.svc.cluster.local",
  injectionWebhookConfig: "fw-injector",
  sidecarImage: "ghcr.io/flagwright/flagwright:test",
  configmapName: "flagwright-flags",
};
const VALIDATION = {
  validationAddress: "0.0.0.0:9443",
  validationCertSecret: "fw-webhook-tls",
  validationDnsNames: "op.ns.svc",
  validationWebhookConfig: "fw-validation",
  configmapName: "flagwright-flags",
};

describe("admissionOptions", () => {
  it("is undefined when neither route is on", () => {
    expect(admissionOptions({ configmapName: "c", validationDnsNames: "x" }, "ns")).toBeUndefined();
  });

  it("serves both routes on the one address, with one Secret and the names of both", () => {
    expect(admissionOptions({ ...INJECTION, ...VALIDATION }, "flagwright-system")).toEqual({
      host: "0.0.0.0",
      port: 9443,
      certSecret: "fw-webhook-tls",
      namespace: "flagwright-system",
      dnsNames: ["op.ns.svc", "op.ns.svc.cluster.local"],
      ipAddresses: ["127.0.0.1"],
      injection: {
        settings: { image: "ghcr.io/flagwright/flagwright:test", configMapName: "flagwright-flags" },
        webhookConfig: "fw-injector",
      },
      validation: { webhookConfig: "fw-validation" },
    });
  });

  it("turns on only the route whose address is given, and ignores the other route's flags", () => {
    const options = admissionOptions(
      { ...VALIDATION, injectionDnsNames: "other.svc", injectionCertSecret: "other" },
      "ns",
    );
    expect(options).toMatchObject({ certSecret: "fw-webhook-tls", dnsNames: ["op.ns.svc"] });
    expect(options?.injection).toBeUndefined();
    expect(admissionOptions({ configmapName: "c", validationAddress: "127.0.0.1:0" }, "ns")).toEqual({
      host: "127.0.0.1",
      port: 0,
      namespace: "ns",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
      validation: { webhookConfig: undefined },
    });
  });

  it("refuses two addresses, two Secrets, or injection without a sidecar image", () => {
    expect(() => admissionOptions({ ...INJECTION, ...VALIDATION, validationAddress: ":9444" }, "ns")).toThrow(
      /must name the same address: one HTTPS server serves \/inject and \/validate/,
    );
    expect(() =>
      admissionOptions({ ...INJECTION, ...VALIDATION, validationCertSecret: "fw-validation-tls" }, "ns"),
    ).toThrow(/must name the same Secret/);
    expect(() => admissionOptions({ ...INJECTION, sidecarImage: undefined }, "ns")).toThrow(
      "--injection-address needs --sidecar-image",
    );
    expect(() => admissionOptions({ ...VALIDATION, validationAddress: "nope" }, "ns")).toThrow(
      /--validation-address must be HOST:PORT/,
    );
  });
});

/** POSTs an AdmissionReview of `object` to `path` over TLS (the certificate is generated in memory). */
function post(port: number, path: string, object: unknown) {
  const body = {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: { uid: "u-1", operation: "CREATE", namespace: "shop", object },
  };
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        rejectUnauthorized: false,
        headers: { "content-type": "application/json" },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

describe("startAdmission", () => {
  it("answers /inject and /validate on one server and logs each route started", async () => {
    const lines: { reason?: string; address?: string }[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    // In memory (no Secret) and no webhook configuration to patch: no API server needed.
    const options = admissionOptions(
      { ...INJECTION, ...VALIDATION, injectionAddress: "127.0.0.1:0", validationAddress: "127.0.0.1:0" },
      "ns",
    );
    if (!options) throw new Error("no admission options");
    const { certSecret: _secret, ...inMemory } = options;
    const server = await startAdmission(
      {} as KubeConfig,
      { ...inMemory, injection: { settings: INJECTION_SETTINGS }, validation: {} },
      log,
    );
    try {
      const port = server.address.port;
      const injected = await post(port, "/inject", {
        metadata: { name: "app", labels: { "flagwright.dev/inject": "true" } },
        spec: { containers: [{ name: "app", image: "app:1" }] },
      });
      expect(injected.status).toBe(200);
      expect(JSON.parse(injected.body).response).toMatchObject({ allowed: true, patchType: "JSONPatch" });
      const refused = await post(port, "/validate", {
        kind: "FeatureFlag",
        metadata: { name: "f" },
        spec: { enabled: true, rules: [{ name: "r", when: "country ==", serve: { enabled: true } }] },
      });
      expect(refused.status).toBe(200);
      expect(JSON.parse(refused.body).response).toMatchObject({ allowed: false, status: { code: 422 } });
      expect(lines.filter((l) => l.reason?.endsWith("Started")).map((l) => l.reason)).toEqual([
        "InjectionStarted",
        "ValidationStarted",
      ]);
      expect(lines.find((l) => l.reason === "ValidationStarted")?.address).toBe(`127.0.0.1:${port}`);
    } finally {
      await server.stop();
    }
  });
});

const INJECTION_SETTINGS = { image: "ghcr.io/flagwright/flagwright:test", configMapName: "flagwright-flags" };
