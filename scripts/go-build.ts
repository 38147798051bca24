// Go programs the tests and benchmarks build from the Go module proxy (the local control plane,
// helm, flagd), built once per source hash and cached under ~/.cache/flagwright/<name>-<hash>.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";

/** `$XDG_CACHE_HOME/flagwright` or `~/.cache/flagwright`. */
export function cacheRoot(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "flagwright");
}

/** The build inputs' hash: a change to go.mod, go.sum or a Go source in `dir` means a new build. */
export function goSourceHash(dir: string): string {
  const hash = createHash("sha256");
  for (const file of readdirSync(dir)
    .filter((f) => f === "go.mod" || f === "go.sum" || f.endsWith(".go"))
    .sort()) {
    hash
      .update(file)
      .update("\0")
      .update(readFileSync(join(dir, file)))
      .update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

/** The cache folder for `dir`'s current sources: `<cacheRoot>/<name>-<source hash>`. */
export function goBuildDir(name: string, dir: string): string {
  return join(cacheRoot(), `${name}-${goSourceHash(dir)}`);
}

export function findGo(): string {
  for (const folder of [...(process.env.PATH ?? "").split(delimiter), "/usr/local/go/bin"]) {
    const candidate = join(folder, "go");
    if (folder && existsSync(candidate)) return candidate;
  }
  throw new Error(
    "Go toolchain not found: install Go 1.26 or newer (apt-get install golang-go, or go.dev/dl) to build the local control plane, helm and flagd",
  );
}

export interface GoTarget {
  /** File name of the binary in the cache folder. */
  binary: string;
  /** Package to build, relative to the module in `dir` ("." for its main package). */
  pkg: string;
  ldflags?: string;
}

/**
 * Builds `targets` from the Go module in `dir` into `<cacheRoot>/<name>-<source hash>/` unless
 * every binary is already there, and returns that folder.
 */
export function ensureGoBuild(options: {
  name: string;
  dir: string;
  targets: GoTarget[];
  log?: (line: string) => void;
}): string {
  const { name, dir, targets, log = () => {} } = options;
  const binDir = goBuildDir(name, dir);
  if (targets.every((t) => existsSync(join(binDir, t.binary)))) return binDir;
  const go = findGo();
  // Build into a private folder and rename it into place, so a concurrent or interrupted build
  // never leaves a half-written binary where the next run would trust it.
  const staging = `${binDir}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const started = Date.now();
  for (const target of targets) {
    log(`building ${target.binary} from ${target.pkg} (first run only; a cold build downloads modules)...`);
    const args = ["build", ...(target.ldflags ? ["-ldflags", target.ldflags] : [])];
    const build = spawnSync(go, [...args, "-o", join(staging, target.binary), target.pkg], {
      cwd: dir,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, CGO_ENABLED: "0" },
    });
    if (build.error || build.status !== 0) {
      rmSync(staging, { recursive: true, force: true });
      throw new Error(
        `go build ${target.pkg} failed (${build.error?.message ?? `exit ${build.status ?? build.signal}`}); see the output above`,
      );
    }
  }
  rmSync(binDir, { recursive: true, force: true });
  renameSync(staging, binDir);
  log(`built ${name} in ${Math.round((Date.now() - started) / 1000)} s, cached in ${binDir}`);
  return binDir;
}
