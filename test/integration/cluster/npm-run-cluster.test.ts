// `npm run cluster` as a newcomer uses it: the export lines come first, kubectl works against the
// printed KUBECONFIG, and SIGTERM leaves no process and no temp folder behind.
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { waitFor } from "../../support/wait.js";

const execFileAsync = promisify(execFile);

/** Every descendant of pid (children, grandchildren, ...), from ps. */
function descendants(pid: number): number[] {
  const rows = execFileSync("ps", ["-e", "-o", "pid=,ppid="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const parent = frontier.pop();
    for (const [child, ppid] of rows) {
      if (ppid === parent) {
        found.push(child);
        frontier.push(child);
      }
    }
  }
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

it("prints the export lines, serves kubectl apply -f examples/, and cleans up on SIGTERM", async () => {
  const npm = spawn("npm", ["run", "--silent", "cluster"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  npm.stderr.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<string>((resolve) =>
    npm.once("exit", (code, signal) => resolve(String(code ?? signal))),
  );
  try {
    const lines: string[] = [];
    const reader = createInterface({ input: npm.stdout });
    reader.on("line", (line) => lines.push(line));
    await waitFor(() => lines.length >= 2, { timeoutMs: 90_000, what: `export lines (stderr: ${stderr})` });

    expect(lines[0]).toMatch(/^export KUBECONFIG=\/\S+$/);
    expect(lines[1]).toMatch(/^export PATH=\/\S+:\$PATH$/);
    const kubeconfig = lines[0]?.slice("export KUBECONFIG=".length) ?? "";
    const binDir = (lines[1] ?? "").slice("export PATH=".length, -":$PATH".length);
    const env = { ...process.env, KUBECONFIG: kubeconfig, PATH: `${binDir}:${process.env.PATH}` };

    const { stdout } = await execFileAsync("kubectl", ["apply", "-f", "examples/"], { env });
    expect(stdout).toContain("featureflag.flagwright.dev/new-checkout created");
    const { stdout: listed } = await execFileAsync("kubectl", ["get", "ff", "-o", "name"], { env });
    // Every FeatureFlag in examples/ (some files hold more than one, or Segments too).
    const declared = readdirSync("examples")
      .filter((f) => f.endsWith(".yaml"))
      .flatMap((f) => readFileSync(join("examples", f), "utf8").match(/^kind: FeatureFlag$/gm) ?? []);
    expect(declared.length).toBeGreaterThan(5);
    expect(listed.trim().split("\n")).toHaveLength(declared.length);

    const children = descendants(npm.pid ?? 0);
    expect(children.length).toBeGreaterThan(0);
    const dataDir = dirname(kubeconfig);
    expect(existsSync(dataDir)).toBe(true);

    npm.kill("SIGTERM");
    // npm re-raises the signal its script stopped on; either way the stop was clean.
    expect(["0", "SIGTERM"]).toContain(await exited);
    await waitFor(() => children.every((pid) => !alive(pid)), {
      timeoutMs: 20_000,
      what: "child processes to exit",
    });
    expect(existsSync(dataDir)).toBe(false);
  } finally {
    if (npm.exitCode === null) npm.kill("SIGKILL");
  }
});
