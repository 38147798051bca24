// The rule that keeps a server bound on all interfaces (Argo CD's controller metrics) reachable on
// loopback only, with a plain Node server on 0.0.0.0 in its place: refused on the machine's own
// addresses while the rule is in, reachable again once it is removed; a rule left by a run whose
// process is gone is removed by the next start, and a live owner's rule is kept. Needs root.
import { execFile, spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  externalAddresses,
  FIREWALL_COMMENT,
  probeHttp,
  restrictToLoopback,
} from "../../support/loopback-firewall.js";

const run = promisify(execFile);

const rulesFor = async (port: number) =>
  (await run("iptables", ["-w", "-S", "INPUT"])).stdout
    .split("\n")
    .filter((rule) => rule.includes(FIREWALL_COMMENT) && rule.includes(`--dport ${port} `));

/** A pid that no process has any more: a child that already exited. */
async function deadPid(): Promise<number> {
  const child = spawn("true");
  await new Promise((resolve) => child.once("close", resolve));
  return child.pid as number;
}

describe("loopback-only firewall rule", () => {
  let server: Server;
  let port: number;
  const ipv4 = externalAddresses().find((a) => a.family === "IPv4")?.address;

  beforeAll(async () => {
    server = createServer((_, res) => res.end("ok"));
    await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("refuses the port on the machine's own addresses while in place, and only then", async () => {
    if (!ipv4) throw new Error("this machine has no non-loopback IPv4 address to test against");
    expect(await probeHttp(ipv4, port, "/")).toBe("HTTP 200");
    const remove = await restrictToLoopback(port);
    try {
      expect(await probeHttp("127.0.0.1", port, "/")).toBe("HTTP 200");
      for (const { address } of externalAddresses()) {
        expect(await probeHttp(address, port, "/", 3_000), address).toBe("error ECONNREFUSED");
      }
    } finally {
      await remove();
    }
    expect(await rulesFor(port)).toEqual([]);
    expect(await probeHttp(ipv4, port, "/")).toBe("HTTP 200");
  });

  it("removes a rule left by a run that died, and keeps a live run's", async () => {
    const leftover = (owner: number, onPort: number) => [
      "-p",
      "tcp",
      "--dport",
      String(onPort),
      "!",
      "-d",
      "127.0.0.0/8",
      "-m",
      "comment",
      "--comment",
      `${FIREWALL_COMMENT} pid=${owner}`,
      "-j",
      "REJECT",
      "--reject-with",
      "tcp-reset",
    ];
    const dead = await deadPid();
    // The live owner is this test's parent process, which outlives the test.
    const live = process.ppid;
    await run("iptables", ["-w", "-I", "INPUT", ...leftover(dead, port)]);
    await run("iptables", ["-w", "-I", "INPUT", ...leftover(live, port)]);
    try {
      const remove = await restrictToLoopback(port);
      const during = await rulesFor(port);
      await remove();
      expect(during.filter((r) => r.includes(`pid=${dead}"`))).toEqual([]);
      expect(during.filter((r) => r.includes(`pid=${live}"`))).toHaveLength(1);
      expect(during.filter((r) => r.includes(`pid=${process.pid}"`))).toHaveLength(1);
    } finally {
      for (const owner of [dead, live]) {
        await run("iptables", ["-w", "-D", "INPUT", ...leftover(owner, port)]).catch(() => undefined);
      }
    }
    expect(await rulesFor(port)).toEqual([]);
  });
});
