// The targeting validation webhook against the real API server: `kubectl apply` of a FeatureFlag
// or Segment whose CEL does not compile is refused with the field path, the position in the
// expression and the compiler's message; valid ones (the examples) pass.
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { AdmissionregistrationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { AdmissionServer } from "../../../src/operator/injection/admission-server.js";
import { generateCertificates } from "../../../src/operator/injection/certificates.js";
import { startValidationServer } from "../../../src/operator/validation-webhook.js";
import { flagManifest } from "../../fixtures/invalid-flags.js";
import { registerValidationWebhook } from "../../support/injection-webhook.js";
import { kubeConfig, kubectl, testNamespace } from "../../support/kube.js";

const kc = kubeConfig();
const admission = kc.makeApiClient(AdmissionregistrationV1Api);
const webhookName = `flagwright-validation-test-${randomBytes(3).toString("hex")}`;
const examplesDir = new URL("../../../examples/", import.meta.url);

let ns: Awaited<ReturnType<typeof testNamespace>>;
let server: AdmissionServer | undefined;

const applyText = (text: string) =>
  kubectl(["apply", "-n", ns.name, "-f", "-"], text).then(
    (out) => ({ ok: true, out }),
    (error: Error) => ({ ok: false, out: error.message }),
  );

beforeAll(async () => {
  ns = await testNamespace("validate");
  const certs = generateCertificates({ ipAddresses: ["127.0.0.1"] });
  server = await startValidationServer({ host: "127.0.0.1", port: 0, tls: certs });
  // Only this test's namespace: other suites share the control plane.
  await registerValidationWebhook(admission, {
    name: webhookName,
    namespace: ns.name,
    url: `https://127.0.0.1:${server.address.port}/validate`,
    caBundle: certs.caCert,
  });
});

afterAll(async () => {
  await admission.deleteValidatingWebhookConfiguration({ name: webhookName }).catch(() => undefined);
  await server?.stop();
  await ns?.remove();
});

describe("validation webhook on a real API server", () => {
  it("refuses a rule that does not compile, naming the field and the position", async () => {
    const bad = stringify(
      flagManifest("bad-rule", {
        enabled: true,
        rules: [
          { name: "ok", when: 'country == "DE"', serve: { enabled: true } },
          { name: "broken", when: 'email.endsWith("@acme.com") && nosuch(email)', serve: { enabled: true } },
        ],
      }),
    );
    // The API server's webhook informer picks the configuration up asynchronously.
    const deadline = Date.now() + 20_000;
    let result = await applyText(bad);
    while (result.ok && Date.now() < deadline) {
      await kubectl(["delete", "ff", "bad-rule", "-n", ns.name, "--ignore-not-found"]);
      await new Promise((r) => setTimeout(r, 250));
      result = await applyText(bad);
    }
    expect(result.ok).toBe(false);
    expect(result.out).toContain('admission webhook "validate.flagwright.dev" denied the request');
    expect(result.out).toContain(
      "spec.rules[1].when: invalid CEL at 1:32: found no matching overload for 'nosuch(dyn)'",
    );
  });

  it("refuses a Segment whose when does not compile", async () => {
    const result = await applyText(
      stringify({
        apiVersion: "flagwright.dev/v1alpha1",
        kind: "Segment",
        metadata: { name: "broken" },
        spec: { when: 'plan == "beta" &&' },
      }),
    );
    expect(result.ok).toBe(false);
    expect(result.out).toMatch(/spec\.when: invalid CEL at 1:\d+: /);
  });

  it("refuses a constant argument that can never work, naming the field and the position", async () => {
    const result = await applyText(
      stringify(
        flagManifest("impossible-launch", {
          enabled: true,
          rules: [
            { name: "launch", when: 'now >= timestamp("2024-13-45T99:00:00Z")', serve: { enabled: true } },
          ],
        }),
      ),
    );
    expect(result.ok).toBe(false);
    expect(result.out).toContain(
      'spec.rules[0].when: invalid CEL at 1:18: timestamp("2024-13-45T99:00:00Z") can never work: month 13 does not exist',
    );
  });

  it.each([
    [
      "five nested all()",
      'tags.all(a, tags.all(b, tags.all(c, tags.all(d, tags.all(e, a + b + c + d + e != "")))))',
    ],
    ["a map of maps", "tags.map(a, tags.map(b, a + b)).size() > 0"],
  ])("refuses a rule that froze a sidecar (%s) for its estimated cost, naming the field", async (_, when) => {
    const result = await applyText(
      stringify(
        flagManifest("costly", {
          enabled: true,
          rules: [
            { name: "ok", when: 'country == "DE"', serve: { enabled: true } },
            { name: "ok-too", when: 'tags.exists(t, t == "beta")', serve: { enabled: true } },
            { name: "costly", when, serve: { enabled: true } },
          ],
        }),
      ),
    );
    expect(result.ok).toBe(false);
    expect(result.out).toContain('admission webhook "validate.flagwright.dev" denied the request');
    expect(result.out).toMatch(
      /spec\.rules\[2\]\.when: invalid CEL at 1:1: estimated cost [\d,]+ exceeds the limit of 1,000,000/,
    );
  });

  it("refuses a pattern RE2 refuses, at the pattern", async () => {
    const result = await applyText(
      stringify(
        flagManifest("unclosed", {
          enabled: true,
          rules: [{ name: "r", when: 'email.matches("(")', serve: { enabled: true } }],
        }),
      ),
    );
    expect(result.ok).toBe(false);
    expect(result.out).toContain(
      "spec.rules[0].when: invalid CEL at 1:15: matches(): RE2 refuses the pattern",
    );
  });

  it("accepts every example", async () => {
    for (const file of readdirSync(examplesDir).filter((f) => f.endsWith(".yaml"))) {
      const text = readFileSync(new URL(file, examplesDir), "utf8").replaceAll(
        "namespace: default",
        `namespace: ${ns.name}`,
      );
      const result = await applyText(text);
      expect(result.ok, `${file}: ${result.out}`).toBe(true);
    }
  });
});

describe("flagwright operator --validation-address", () => {
  it("serves the webhook with its own certificate and patches the configuration's caBundle", async () => {
    const { createServer } = await import("node:net");
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => resolve(p));
      });
    });
    const name = `${webhookName}-operator`;
    await registerValidationWebhook(admission, {
      name,
      namespace: `${ns.name}-op`,
      url: `https://127.0.0.1:${port}/validate`,
    });
    const opNs = await testNamespaceNamed(`${ns.name}-op`);
    const { startOperator } = await import("../../support/operator.js");
    const operator = await startOperator([
      "--namespaces",
      opNs.name,
      "--validation-address",
      `127.0.0.1:${port}`,
      "--validation-webhook-config",
      name,
    ]);
    try {
      expect(operator.logs.some((l) => l.reason === "ValidationStarted")).toBe(true);
      const config = await admission.readValidatingWebhookConfiguration({ name });
      expect(config.webhooks?.[0]?.clientConfig.caBundle).toBeTruthy();
      const bad = stringify({
        ...flagManifest("bad", {
          enabled: true,
          rules: [{ name: "r", when: "country ==", serve: { enabled: true } }],
        }),
        metadata: { name: "bad", namespace: opNs.name },
      });
      const deadline = Date.now() + 20_000;
      let out = "";
      for (;;) {
        out = await kubectl(["apply", "-f", "-"], bad).then(
          (o) => o,
          (e: Error) => e.message,
        );
        if (out.includes("denied the request") || Date.now() > deadline) break;
        await kubectl(["delete", "ff", "bad", "-n", opNs.name, "--ignore-not-found"]);
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(out).toMatch(/spec\.rules\[0\]\.when: invalid CEL at 1:11: /);
    } finally {
      await operator.stop();
      await admission.deleteValidatingWebhookConfiguration({ name }).catch(() => undefined);
      await opNs.remove();
    }
  });
});

async function testNamespaceNamed(name: string) {
  await kubectl(["create", "namespace", name]);
  return { name, remove: () => kubectl(["delete", "namespace", name, "--wait=false"]).then(() => undefined) };
}
