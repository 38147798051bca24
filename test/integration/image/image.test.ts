// The container image, built from the project's Dockerfile (scripts/image.ts: local Debian base
// images, podman with runc) and run as a cluster would run it: as uid 65532 with a read-only root
// filesystem and host networking on loopback. `--help` works; the sidecar, started with the command,
// V8 options, arguments and probes the injection webhook gives it, answers OFREP; the
// operator, started as the chart starts it (its NODE_OPTIONS, the validation webhook with its
// certificates in a Secret and an empty caBundle to fill), reads the Secret, patches the caBundle,
// refuses a bad rule through the API server and projects a FeatureFlag into its namespace's
// ConfigMap on the local control plane: answers the API server sends chunked (over 4 KiB) on a
// kept-alive connection, which the image's Node treats differently from the host's. Skipped, with
// the reason printed, only outside CI where podman, runc or mmdebstrap is missing.
// FLAGWRIGHT_TEST_IMAGE=<name> tests an image already built instead of building one.
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AdmissionregistrationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse, stringify } from "yaml";
import { buildImage, imageSize, missingTools, PODMAN, run, ULIMITS } from "../../../scripts/image.js";
import { buildDocument } from "../../../src/core/index.js";
import { generateCertificates } from "../../../src/operator/injection/certificates.js";
import {
  FLAGS_MOUNT,
  SIDECAR_NODE_OPTIONS,
  sidecarContainer,
} from "../../../src/operator/injection/mutation.js";
import { flagManifest } from "../../fixtures/invalid-flags.js";
import { createFlag, projectedDocument } from "../../support/flag-objects.js";
import { registerValidationWebhook } from "../../support/injection-webhook.js";
import { clients, kubectl, testNamespace } from "../../support/kube.js";
import { freePort } from "../../support/prometheus.js";
import { waitFor } from "../../support/wait.js";

const why = missingTools();
// CI installs podman, runc and mmdebstrap (.ci/run), so there a missing tool is a failure, never a
// skip; on a developer's machine without them the suite is skipped with the reason printed.
if (why && process.env.CI) throw new Error(`container image test cannot run in CI: ${why}`);
if (why) console.warn(`[image] skipped: ${why}`);

/** `podman run` as a cluster runs the image: non-root (the image's USER), read-only root, loopback. */
const runArgs = (extra: string[], remove = true) => [
  ...PODMAN,
  "run",
  ...(remove ? ["--rm"] : []),
  "--read-only",
  "--network",
  "host",
  ...ULIMITS,
  ...extra,
];

// Skipped only outside CI on a machine without podman, runc or mmdebstrap, or without root (the
// reason is printed above); with CI set it throws instead, and .ci/run installs them.
describe.skipIf(why !== undefined)("container image", () => {
  let image = "";
  const scratch = mkdtempSync(join(tmpdir(), "flagwright-image-"));
  // The container's user (65532) reads what the test mounts.
  chmodSync(scratch, 0o755);
  const containers: string[] = [];

  beforeAll(async () => {
    const started = Date.now();
    image =
      process.env.FLAGWRIGHT_TEST_IMAGE ??
      (await buildImage({ log: (line) => console.error(`[image] ${line}`) }));
    console.error(
      `[image] ${image}: ${((await imageSize(image)) / 1e6).toFixed(1)} MB, ready in ${Math.round((Date.now() - started) / 1000)} s`,
    );
  }, 1_800_000); // a first build assembles the base images and runs npm ci in the build stage

  afterAll(async () => {
    for (const name of containers) await run([...PODMAN, "rm", "--force", "--time", "2", name]);
    rmSync(scratch, { recursive: true, force: true });
  }, 300_000); // podman removes a container in tens of seconds on a loaded machine

  /** Starts a detached container, kept after it exits so its logs explain a failure; afterAll removes it. */
  async function start(name: string, args: string[]): Promise<void> {
    containers.push(name);
    const started = await run(runArgs(["--detach", "--name", name, ...args], false));
    expect(started.code, started.stderr).toBe(0);
  }
  const logs = async (name: string) => {
    const out = await run([...PODMAN, "logs", name]);
    return `${out.stdout}${out.stderr}`;
  };

  it("runs as uid 65532 on a read-only root filesystem, with no shell", async () => {
    const config = await run([...PODMAN, "image", "inspect", "--format", "{{.Config.User}}", image]);
    expect(config.stdout.trim()).toBe("65532:65532");
    const probe = await run(
      runArgs([
        "--entrypoint",
        "/nodejs/bin/node",
        image,
        "-e",
        "const fs = require('node:fs'); let write; try { fs.writeFileSync('/app/probe', 'x'); write = 'written'; } catch (e) { write = e.code; } console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), write }));",
      ]),
    );
    expect(probe.code, probe.stderr).toBe(0);
    expect(JSON.parse(probe.stdout)).toEqual({ uid: 65532, gid: 65532, write: "EROFS" });
    const shell = await run(runArgs(["--entrypoint", "/bin/sh", image, "-c", "true"]));
    expect(shell.code).not.toBe(0);
  });

  it("--help works (the image's default command)", async () => {
    const help = await run(runArgs([image]));
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: flagwright \[options\] \[command\]/);
    const sidecarHelp = await run(runArgs([image, "sidecar", "--help"]));
    expect(sidecarHelp.stdout).toMatch(/Usage: flagwright sidecar/);
  });

  it("the sidecar, started as the webhook injects it (its command and V8 options), answers OFREP", async () => {
    const dir = join(scratch, "flags");
    mkdirSync(dir, { mode: 0o755 });
    const doc = buildDocument("shop", {
      "new-search": { enabled: true, killed: false, percent: 100, allowedUsers: [], revision: "r1" },
    });
    writeFileSync(join(dir, "flags.json"), JSON.stringify(doc), { mode: 0o644 });
    const port = await freePort();
    const container = sidecarContainer({ metadata: { name: "app" } }, "shop", {
      image,
      configMapName: "flagwright-flags",
      port,
    });
    const [entrypoint, ...options] = container.command ?? [];
    expect(options.slice(0, -1)).toEqual(SIDECAR_NODE_OPTIONS);
    await start("flagwright-image-sidecar", [
      "--volume",
      `${dir}:${FLAGS_MOUNT}:ro`,
      "--entrypoint",
      JSON.stringify([entrypoint, ...options]),
      image,
      ...(container.args ?? []),
    ]);
    const answer = await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/ofrep/v1/evaluate/flags/new-search`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ context: { targetingKey: "user-42" } }),
        }).catch(() => undefined);
        return res?.ok ? ((await res.json()) as { key: string; value: unknown }) : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: `the image's sidecar answering on ${port}` },
    ).catch(async (error) => {
      throw new Error(`${(error as Error).message}\n${await logs("flagwright-image-sidecar")}`);
    });
    expect(answer).toMatchObject({ key: "new-search", value: true });
    // The probes the webhook sets run the image's node too.
    const probe = container.startupProbe?.exec?.command ?? [];
    const ready = await run([...PODMAN, "exec", "flagwright-image-sidecar", ...probe]);
    expect(ready.code, ready.stderr).toBe(0);
  });

  it("the operator, started as the chart starts it, fills an empty caBundle from its certificate Secret, validates and projects", async () => {
    const kubeconfig = join(scratch, "kubeconfig");
    copyFileSync(inject("kubeconfig"), kubeconfig);
    chmodSync(kubeconfig, 0o644);
    const chartValues = parse(
      readFileSync(new URL("../../../charts/flagwright/values.yaml", import.meta.url), "utf8"),
    );
    const nodeOptions: string = chartValues.operator.nodeOptions;
    expect(nodeOptions).toContain("--max-old-space-size");
    const ns = await testNamespace("image");
    const { kc, core, custom } = clients();
    const admission = kc.makeApiClient(AdmissionregistrationV1Api);
    const webhookName = `flagwright-image-${ns.name}`;
    const certSecret = "flagwright-validation-tls";
    try {
      // The certificates the operator finds in its Secret (as a second replica or a restart does):
      // the caBundle it writes must be this CA, read back from the Secret.
      // The names the operator's validation certificate covers (its default DNS name and loopback).
      const certs = generateCertificates({ dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
      const b64 = (text: string) => Buffer.from(text).toString("base64");
      await core.createNamespacedSecret({
        namespace: ns.name,
        body: {
          metadata: { name: certSecret },
          data: {
            "ca.crt": b64(certs.caCert),
            "ca.key": b64(certs.caKey),
            "tls.crt": b64(certs.cert),
            "tls.key": b64(certs.key),
          },
        },
      });
      // Before the webhook configuration: with failurePolicy Fail it refuses writes until the operator serves.
      await createFlag(custom, ns.name, "from-image", { enabled: true, rollout: { percent: 40 } });
      const validationPort = await freePort();
      // As the chart installs it: no caBundle until the operator patches one in.
      await registerValidationWebhook(admission, {
        name: webhookName,
        namespace: ns.name,
        url: `https://localhost:${validationPort}/validate`,
      });
      const port = await freePort();
      await start("flagwright-image-operator", [
        "--env",
        `POD_NAMESPACE=${ns.name}`,
        "--env",
        `NODE_OPTIONS=${nodeOptions}`,
        "--volume",
        `${kubeconfig}:/etc/flagwright/kubeconfig:ro`,
        image,
        "operator",
        "--kubeconfig",
        "/etc/flagwright/kubeconfig",
        "--namespaces",
        ns.name,
        "--http-address",
        `127.0.0.1:${port}`,
        "--validation-address",
        `127.0.0.1:${validationPort}`,
        "--validation-webhook-config",
        webhookName,
        "--validation-cert-secret",
        certSecret,
      ]);
      const withLogs = async (error: unknown): Promise<never> => {
        throw new Error(`${(error as Error).message}\n${await logs("flagwright-image-operator")}`);
      };
      const doc = await waitFor(
        async () => {
          const projected = await projectedDocument(core, ns.name);
          return projected?.flags["from-image"] ? projected : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250, what: "the image's operator projecting from-image" },
      ).catch(withLogs);
      expect(doc.flags["from-image"]).toMatchObject({ enabled: true, percent: 40 });
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      const config = await admission.readValidatingWebhookConfiguration({ name: webhookName });
      expect(config.webhooks?.[0]?.clientConfig.caBundle).toBe(b64(certs.caCert));
      // Read and served as stored, not replaced.
      const stored = await core.readNamespacedSecret({ namespace: ns.name, name: certSecret });
      expect(stored.data?.["tls.crt"]).toBe(b64(certs.cert));
      // The API server calls the image's webhook (its configuration reaches the API server's
      // webhook informer asynchronously, so a flag accepted before then is deleted and retried).
      const bad = stringify(
        flagManifest("bad-rule", {
          enabled: true,
          rules: [{ name: "broken", when: "nosuch(email)", serve: { enabled: true } }],
        }),
      );
      const refusal = await waitFor(
        async () => {
          const applied = await kubectl(["apply", "-n", ns.name, "-f", "-"], bad).then(
            () => undefined,
            (error: Error) => error.message,
          );
          if (applied === undefined)
            await kubectl(["delete", "ff", "bad-rule", "-n", ns.name, "--ignore-not-found"]);
          return applied;
        },
        { timeoutMs: 20_000, intervalMs: 250, what: "the image's validation webhook refusing bad-rule" },
      ).catch(withLogs);
      expect(refusal).toContain('admission webhook "validate.flagwright.dev" denied the request');
      expect(refusal).toContain("spec.rules[0].when: invalid CEL");
    } finally {
      await admission.deleteValidatingWebhookConfiguration({ name: webhookName }).catch(() => undefined);
      await ns.remove();
    }
    // podman starts a container in tens of seconds on a loaded machine; the waits above are bounded.
  }, 180_000);
});
