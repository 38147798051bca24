// The container image, built from the project's Dockerfile (scripts/image.ts: local Debian base
// images, podman with runc) and run as a cluster would run it: as uid 65532 with a read-only root
// filesystem and host networking on loopback. `--help` works; the sidecar, started with the command,
// V8 options, arguments and probes the injection webhook gives it, answers OFREP; the
// operator, given a kubeconfig, projects a FeatureFlag into its namespace's ConfigMap on the local
// control plane. Skipped, with the reason printed, only outside CI where podman, runc or mmdebstrap
// is missing.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { buildImage, imageSize, missingTools, PODMAN, run, ULIMITS } from "../../../scripts/image.js";
import { buildDocument } from "../../../src/core/index.js";
import {
  FLAGS_MOUNT,
  SIDECAR_NODE_OPTIONS,
  sidecarContainer,
} from "../../../src/operator/injection/mutation.js";
import { createFlag, projectedDocument } from "../../support/flag-objects.js";
import { clients, testNamespace } from "../../support/kube.js";
import { freePort } from "../../support/prometheus.js";
import { waitFor } from "../../support/wait.js";

const why = missingTools();
// CI installs podman, runc and mmdebstrap (.ci/run), so there a missing tool is a failure, never a
// skip; on a developer's machine without them the suite is skipped with the reason printed.
if (why && process.env.CI) throw new Error(`container image test cannot run in CI: ${why}`);
if (why) console.warn(`[image] skipped: ${why}`);

/** `podman run` as a cluster runs the image: non-root (the image's USER), read-only root, loopback. */
const runArgs = (extra: string[]) => [
  ...PODMAN,
  "run",
  "--rm",
  "--read-only",
  "--network",
  "host",
  ...ULIMITS,
  ...extra,
];

describe.skipIf(why !== undefined)("container image", () => {
  let image = "";
  const scratch = mkdtempSync(join(tmpdir(), "flagwright-image-"));
  // The container's user (65532) reads what the test mounts.
  chmodSync(scratch, 0o755);
  const containers: string[] = [];

  beforeAll(async () => {
    const started = Date.now();
    image = await buildImage({ log: (line) => console.error(`[image] ${line}`) });
    console.error(
      `[image] ${image}: ${((await imageSize(image)) / 1e6).toFixed(1)} MB, ready in ${Math.round((Date.now() - started) / 1000)} s`,
    );
  }, 1_800_000); // a first build assembles the base images and runs npm ci in the build stage

  afterAll(async () => {
    for (const name of containers) await run([...PODMAN, "rm", "--force", "--time", "2", name]);
    rmSync(scratch, { recursive: true, force: true });
  });

  /** Starts a detached container; the test removes it. */
  async function start(name: string, args: string[]): Promise<void> {
    containers.push(name);
    const started = await run(runArgs(["--detach", "--name", name, ...args]));
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
    const probe = container.readinessProbe?.exec?.command ?? [];
    const ready = await run([...PODMAN, "exec", "flagwright-image-sidecar", ...probe]);
    expect(ready.code, ready.stderr).toBe(0);
  });

  it("the operator, given a kubeconfig, projects a flag on the local control plane", async () => {
    const kubeconfig = join(scratch, "kubeconfig");
    copyFileSync(inject("kubeconfig"), kubeconfig);
    chmodSync(kubeconfig, 0o644);
    const ns = await testNamespace("image");
    try {
      const { core, custom } = clients();
      await createFlag(custom, ns.name, "from-image", { enabled: true, rollout: { percent: 40 } });
      const port = await freePort();
      await start("flagwright-image-operator", [
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
      ]);
      const doc = await waitFor(
        async () => {
          const projected = await projectedDocument(core, ns.name);
          return projected?.flags["from-image"] ? projected : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250, what: "the image's operator projecting from-image" },
      ).catch(async (error) => {
        throw new Error(`${(error as Error).message}\n${await logs("flagwright-image-operator")}`);
      });
      expect(doc.flags["from-image"]).toMatchObject({ enabled: true, percent: 40 });
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await ns.remove();
    }
  });
});
