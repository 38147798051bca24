// The Python environment of the provider and Django tests: a venv under
// ~/.cache/flagwright/python-<requirements hash> with test/providers/python/requirements.txt
// installed from PyPI, made once and reused. A missing python3 (or venv module) is an error, never
// a skip. `node --import tsx test/support/python.ts` prepares it (.ci/run does) and prints its python.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheRoot } from "../../scripts/go-build.js";

export const requirementsFile = fileURLToPath(
  new URL("../providers/python/requirements.txt", import.meta.url),
);

function run(command: string, args: string[], what: string): void {
  const r = spawnSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.error || r.status !== 0) {
    throw new Error(
      `${what} failed (${command} ${args.join(" ")}): ${r.error?.message ?? ""}${r.stderr ?? ""}${r.stdout ?? ""}`.slice(
        0,
        4000,
      ),
    );
  }
}

/** Path of the venv's python, creating the venv first if needed. */
export function ensurePythonEnv(log: (line: string) => void = () => {}): string {
  const hash = createHash("sha256").update(readFileSync(requirementsFile)).digest("hex").slice(0, 16);
  const dir = join(cacheRoot(), `python-${hash}`);
  const python = join(dir, "bin", "python");
  if (existsSync(join(dir, ".complete"))) return python;
  const probe = spawnSync("python3", ["-c", "import venv, ensurepip"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      "python3 with the venv module is required for the Python provider and Django tests (apt-get install python3 python3-venv; .ci/run does)",
    );
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  log(`creating ${dir} (pip install -r ${requirementsFile})`);
  try {
    run("python3", ["-m", "venv", tmp], "python3 -m venv");
    run(
      join(tmp, "bin", "python"),
      ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", requirementsFile],
      "pip install",
    );
    run("touch", [join(tmp, ".complete")], "marking the venv complete");
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  // Renaming a venv is safe for `python -m ...` use: bin/python is a symlink to the system
  // python and pyvenv.cfg is found beside it (only activate scripts and entry points embed paths).
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return python;
}

/** Runs a Python script from the venv with `input` on stdin; resolves with stdout (throws on failure). */
export function runPython(script: string, input: string, env: Record<string, string> = {}): string {
  const python = ensurePythonEnv();
  const r = spawnSync(python, [script], {
    input,
    encoding: "utf8",
    env: { ...process.env, ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error || r.status !== 0) {
    throw new Error(`python ${script} exited ${r.status}: ${r.error?.message ?? ""}${r.stderr}`);
  }
  return r.stdout;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(ensurePythonEnv((line) => console.error(`[python] ${line}`)));
}
