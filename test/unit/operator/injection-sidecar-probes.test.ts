// The injected sidecar's probes. They run the image's node inside the sidecar's container (the
// sidecar listens on loopback only), so each probe is a whole Node process in the container's
// 128 Mi memory limit beside the sidecar, and on a busy node its exec can take seconds. The
// startup probe holds the app back until the flags are loaded; nothing after that may restart a
// healthy sidecar or take the pod out of its Services because a probe was slow.
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { V1Probe } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sidecarContainer } from "../../../src/operator/injection/mutation.js";

const settings = { image: "flagwright:test", configMapName: "flagwright-flags" };
/** The sidecar's peak memory under saturation, measured (docs/install.md), and its limit. */
const SIDECAR_PEAK_MIB = 56;
const CONTAINER_LIMIT_MIB = 128;

describe("the injected sidecar's probes", () => {
  const container = sidecarContainer({ metadata: { name: "app" } }, "shop", settings);

  it("a startup probe on /readyz holds the app containers back until the first document is loaded", () => {
    const startup = container.startupProbe as V1Probe;
    expect(startup.exec?.command?.join(" ")).toContain("http://127.0.0.1:8016/readyz");
    // Long enough for a watch-mode sidecar's first list on a slow API server.
    expect((startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3)).toBeGreaterThanOrEqual(120);
  });

  it("no readiness probe: a slow exec on a busy node never takes the pod out of its Services", () => {
    expect(container.readinessProbe).toBeUndefined();
  });

  it("the liveness probe restarts only a sidecar that stopped answering for minutes, not one slowed by a busy node", () => {
    const liveness = container.livenessProbe as V1Probe;
    expect(liveness.exec?.command?.join(" ")).toContain("http://127.0.0.1:8016/healthz");
    // An exec that takes 5 s on a loaded node is not a dead sidecar.
    expect(liveness.timeoutSeconds).toBeGreaterThanOrEqual(10);
    expect((liveness.periodSeconds ?? 10) * (liveness.failureThreshold ?? 3)).toBeGreaterThanOrEqual(180);
  });
});

describe("the probe command", () => {
  let server: Server;
  let port: number;
  let status = 200;

  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(status);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  /**
   * Runs a probe of the sidecar on `probePort` with this machine's node in place of the image's.
   * Python's wait reports the child's peak RSS as the kernel counted it (what the container's
   * memory limit is charged), including Node's own teardown after its exit handlers.
   */
  function runProbe(probePort: number): Promise<{ code: number; peakMiB: number }> {
    const probe = sidecarContainer({ metadata: { name: "app" } }, "shop", { ...settings, port: probePort })
      .livenessProbe as V1Probe;
    const [, ...args] = probe.exec?.command ?? [];
    const measure =
      "import json, resource, subprocess, sys\n" +
      "code = subprocess.run(sys.argv[1:]).returncode\n" +
      "print(json.dumps({'code': code, 'peakKiB': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))";
    return new Promise((resolve, reject) => {
      execFile("python3", ["-c", measure, process.execPath, ...args], (error, stdout) => {
        if (error) return reject(error);
        const { code, peakKiB } = JSON.parse(stdout) as { code: number; peakKiB: number };
        resolve({ code, peakMiB: peakKiB / 1024 });
      });
    });
  }

  it("exits 0 on 200, 1 on 503 and 1 when nothing listens", async () => {
    status = 200;
    expect((await runProbe(port)).code).toBe(0);
    status = 503;
    expect((await runProbe(port)).code).toBe(1);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect((await runProbe(closedPort)).code).toBe(1);
  });

  it("fits in the container's memory limit beside the sidecar at its peak", async () => {
    status = 200;
    const { code, peakMiB } = await runProbe(port);
    expect(code).toBe(0);
    console.log(`probe peak RSS ${peakMiB.toFixed(1)} MiB`);
    expect(peakMiB).toBeLessThan(CONTAINER_LIMIT_MIB - SIDECAR_PEAK_MIB - 8);
  });
});
