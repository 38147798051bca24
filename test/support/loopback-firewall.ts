// Keeps a TCP port reachable on loopback only, for a server that binds all interfaces and cannot be
// told otherwise (Argo CD's application controller hardcodes its metrics listener on 0.0.0.0, which
// Go opens dual-stack). An INPUT rule, for IPv4 and, when the machine has a non-loopback IPv6
// address, for IPv6, resets every connection to the port whose destination is not a loopback
// address: the machine's own eth0 address included, since a local connection to it also passes
// INPUT. Each rule carries the comment `flagwright-argocd-test pid=<owner>`, so a rule left by a
// run that died (its owner gone) is removed by the next run, and a live parallel run's rule is not.
import { execFile } from "node:child_process";
import { request } from "node:http";
import { networkInterfaces } from "node:os";
import { promisify } from "node:util";

const run = promisify(execFile);

export const FIREWALL_COMMENT = "flagwright-argocd-test";

type Family = { tool: "iptables" | "ip6tables"; loopback: string };
const IPV4: Family = { tool: "iptables", loopback: "127.0.0.0/8" };
const IPV6: Family = { tool: "ip6tables", loopback: "::1/128" };

/** The machine's non-loopback addresses (eth0's and the like), link-local ones left out. */
export function externalAddresses(): { address: string; family: "IPv4" | "IPv6" }[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && !a.internal && !(a.family === "IPv6" && a.address.startsWith("fe80:")))
    .map((a) => ({ address: a?.address ?? "", family: a?.family ?? "IPv4" }));
}

function families(): Family[] {
  return externalAddresses().some((a) => a.family === "IPv6") ? [IPV4, IPV6] : [IPV4];
}

async function table(family: Family, args: string[]): Promise<string> {
  try {
    // -w: wait for the xtables lock rather than fail when another rule change is under way.
    return (await run(family.tool, ["-w", ...args])).stdout;
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    throw new Error(
      `${family.tool} ${args.join(" ")} failed (keeping the port on loopback needs root and ${family.tool}): ${detail}`,
    );
  }
}

function ruleSpec(family: Family, port: number, owner: number): string[] {
  return [
    "-p",
    "tcp",
    "--dport",
    String(port),
    "!",
    "-d",
    family.loopback,
    "-m",
    "comment",
    "--comment",
    `${FIREWALL_COMMENT} pid=${owner}`,
    "-j",
    "REJECT",
    "--reject-with",
    "tcp-reset",
  ];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes rules with the harness's comment whose owning process is gone. */
async function removeLeftovers(family: Family): Promise<void> {
  const rules = (await table(family, ["-S", "INPUT"])).split("\n");
  for (const rule of rules) {
    const owner = rule.match(new RegExp(`--comment "?${FIREWALL_COMMENT} pid=(\\d+)"?`))?.[1];
    if (owner === undefined || alive(Number(owner))) continue;
    // `-S` prints the rule as `-A INPUT ...`; the same words after `-D` delete it.
    const words = (rule.match(/"[^"]*"|\S+/g) ?? []).map((w) => w.replace(/^"|"$/g, ""));
    await table(family, ["-D", ...words.slice(1)]);
  }
}

/**
 * Inserts the rules for `port` (call before the server starts) and resolves with their removal.
 * If any insertion fails, those already inserted are removed before the error is thrown.
 */
export async function restrictToLoopback(port: number): Promise<() => Promise<void>> {
  const inserted: Family[] = [];
  const remove = async () => {
    for (const family of inserted.splice(0)) {
      await table(family, ["-D", "INPUT", ...ruleSpec(family, port, process.pid)]).catch(() => undefined);
    }
  };
  try {
    for (const family of families()) {
      await removeLeftovers(family);
      await table(family, ["-I", "INPUT", "1", ...ruleSpec(family, port, process.pid)]);
      inserted.push(family);
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return remove;
}

/** GET `path` at host:port: "HTTP <status>", or "error <code>" when the connection fails. */
export function probeHttp(host: string, port: number, path = "/healthz", timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve) => {
    // A fresh connection each time: a kept-alive one would show an earlier answer's path, not this one's.
    const req = request({ host, port, path, method: "GET", timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(`HTTP ${res.statusCode}`);
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
    req.on("error", (error) => resolve(`error ${(error as NodeJS.ErrnoException).code}`));
    req.end();
  });
}
