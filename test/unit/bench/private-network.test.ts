// The flagd server opens its OFREP and management ports on every interface, so the benchmarks and
// tests start it only inside a private network namespace, where loopback is the only interface.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { startFlagdServer } from "../../../bench/flagd-server/process.js";
import { onlyLoopback, privateNetworkCommand, runInPrivateNetwork } from "../../../bench/private-network.js";

const privateNetwork = fileURLToPath(new URL("../../../bench/private-network.ts", import.meta.url));

describe("a private network namespace for the flagd server", () => {
  it("tells loopback-only interfaces from a machine's", () => {
    const lo = {
      address: "127.0.0.1",
      netmask: "255.0.0.0",
      family: "IPv4",
      mac: "",
      internal: true,
      cidr: "127.0.0.1/8",
    } as const;
    const eth = { ...lo, address: "10.0.0.5", cidr: "10.0.0.5/24", internal: false } as const;
    expect(onlyLoopback({ lo: [lo] })).toBe(true);
    expect(onlyLoopback({ lo: [lo], eth0: [eth] })).toBe(false);
  });

  it("builds the unshare command with loopback brought up; a user namespace when not root", () => {
    const [command, args] = privateNetworkCommand("flagd", ["start"], true);
    expect([command, ...args]).toEqual([
      "unshare",
      "--net",
      "--",
      "sh",
      "-c",
      'ip link set lo up && exec "$@"',
      "sh",
      "flagd",
      "start",
    ]);
    expect(privateNetworkCommand("flagd", [], false)[1].slice(0, 2)).toEqual(["--net", "--map-root-user"]);
  });

  it("refuses to start flagd where an interface other than loopback is up, before spawning it", async () => {
    if (onlyLoopback()) {
      console.log("skipped: this process already runs in a loopback-only network namespace");
      return;
    }
    await expect(
      startFlagdServer({ binary: "/nonexistent/flagd", file: "/nonexistent/flags.json", probeFlag: "x" }),
    ).rejects.toThrow(/OFREP and management ports on every interface.*private network namespace/);
  });

  it("runs a function in a namespace whose only interface is loopback, and returns its result", async () => {
    const names = await runInPrivateNetwork<string[]>(privateNetwork, "networkInterfaceNames", {});
    expect(names).toEqual(["lo"]);
  });
});
