// A private network namespace for servers that cannot be told which address to bind: the flagd
// server opens its OFREP and management ports on every interface, with no flag to bind them to
// one address. In a fresh network namespace the only interface is loopback, so "every interface"
// is 127.0.0.1 and ::1, and nothing outside the namespace can reach the ports. No firewall rule is
// involved and nothing is left behind: the namespace goes away with its last process.
//
// runInPrivateNetwork(module, exportName, input) runs `await module[exportName](input)` in a child
// Node process (bench/private-network-child.ts) inside such a namespace (`unshare --net`, loopback
// brought up) and returns its JSON result; the child's stdout and stderr are passed through, so
// progress lines show.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
/** The child's entry point: calls the function and writes its result. */
const childEntry = fileURLToPath(new URL("private-network-child.ts", import.meta.url));

/** Whether every network interface of this process's namespace is a loopback interface. */
export function onlyLoopback(interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()) {
  return Object.values(interfaces).every((addresses) => (addresses ?? []).every((a) => a.internal));
}

/** The names of this process's network interfaces that have an address. */
export function networkInterfaceNames(): string[] {
  return Object.keys(os.networkInterfaces()).sort();
}

/**
 * `command args` run in a fresh network namespace with loopback up. Root creates the namespace
 * directly; anyone else needs a user namespace for it (--map-root-user).
 */
export function privateNetworkCommand(
  command: string,
  args: readonly string[],
  isRoot = process.getuid?.() === 0,
): [string, string[]] {
  return [
    "unshare",
    [
      "--net",
      ...(isRoot ? [] : ["--map-root-user"]),
      "--",
      "sh",
      "-c",
      // A new namespace's loopback is down: 127.0.0.1 is unreachable until it is brought up.
      'ip link set lo up && exec "$@"',
      "sh",
      command,
      ...args,
    ],
  ];
}

/**
 * Runs `(await import(modulePath))[exportName](input)` in a child Node process in a private
 * network namespace and resolves to its result (a JSON round trip: NaN comes back as null).
 */
export async function runInPrivateNetwork<T>(
  modulePath: string,
  exportName: string,
  input: unknown,
): Promise<T> {
  const dir = await mkdtemp(join(os.tmpdir(), "flagwright-private-network-"));
  try {
    const inputFile = join(dir, "input.json");
    const outputFile = join(dir, "output.json");
    await writeFile(inputFile, JSON.stringify(input));
    const [command, args] = privateNetworkCommand(process.execPath, [
      "--import",
      "tsx",
      childEntry,
      modulePath,
      exportName,
      inputFile,
      outputFile,
    ]);
    const child = spawn(command, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
    const code = await new Promise<number | string>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (exitCode, signal) => resolve(exitCode ?? signal ?? "unknown"));
    });
    if (code !== 0) {
      throw new Error(
        `${exportName} from ${modulePath} in a private network namespace (${command} ${args.slice(0, 7).join(" ")} …) exited with ${code}; ` +
          "creating the namespace needs root or unprivileged user namespaces, and the ip command",
      );
    }
    return JSON.parse(await readFile(outputFile, "utf8")) as T;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
