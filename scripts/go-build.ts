// Go programs the tests and benchmarks build from the Go module proxy (the local control plane,
// helm, flagd, Prometheus, Alertmanager), built once per source hash and cached under
// ~/.cache/flagwright/<name>-<hash>.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { createInterface } from "node:readline";

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
    "Go toolchain not found: install Go 1.26 or newer (apt-get install golang-go, or go.dev/dl) to build the local control plane, Prometheus, Alertmanager, helm and flagd",
  );
}

export interface GoTarget {
  /** File name of the binary in the cache folder. */
  binary: string;
  /** Package to build, relative to the module in `dir` ("." for its main package). */
  pkg: string;
  ldflags?: string;
  /** Build tags (e.g. Prometheus' `remove_all_sd`). */
  tags?: string[];
}

/**
 * Builds `targets` from the Go module in `dir` into `<cacheRoot>/<name>-<source hash>/` unless
 * every binary is already there, and returns that folder. A cold build logs what it builds, its
 * progress (packages compiled of the total) and how long it took.
 */
export async function ensureGoBuild(options: {
  name: string;
  dir: string;
  targets: GoTarget[];
  log?: (line: string) => void;
}): Promise<string> {
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
  try {
    for (const target of targets) {
      await goBuild(go, dir, target, join(staging, target.binary), log);
    }
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  rmSync(binDir, { recursive: true, force: true });
  renameSync(staging, binDir);
  log(`built ${name} in ${Math.round((Date.now() - started) / 1000)} s, cached in ${binDir}`);
  return binDir;
}

const env = () => ({ ...process.env, CGO_ENABLED: "0" });

/** How many packages `pkg` needs (its dependency closure), for the progress figure. */
function packageCount(go: string, dir: string, target: GoTarget): number | undefined {
  const list = spawnSync(go, ["list", ...tagArgs(target), "-deps", target.pkg], {
    cwd: dir,
    env: env(),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return list.status === 0 ? list.stdout.split("\n").filter(Boolean).length : undefined;
}

const tagArgs = (target: GoTarget) => (target.tags?.length ? ["-tags", target.tags.join(",")] : []);

/**
 * `go build -v`: each package it compiles is one line on stderr, counted against the total for
 * the progress line; module downloads are counted too; anything else (errors) is passed through.
 */
async function goBuild(
  go: string,
  dir: string,
  target: GoTarget,
  output: string,
  log: (line: string) => void,
): Promise<void> {
  const started = Date.now();
  const total = packageCount(go, dir, target);
  log(
    `building ${target.binary} from ${target.pkg}${target.tags?.length ? ` (tags ${target.tags.join(",")})` : ""}: ` +
      `${total ?? "?"} packages, first run only (a cold build downloads modules and takes minutes)...`,
  );
  const args = ["build", "-v", ...tagArgs(target), ...(target.ldflags ? ["-ldflags", target.ldflags] : [])];
  const child = spawn(go, [...args, "-o", output, target.pkg], {
    cwd: dir,
    stdio: ["ignore", "inherit", "pipe"],
    env: env(),
  });
  let compiled = 0;
  let downloads = 0;
  const progress = () => {
    const seconds = Math.round((Date.now() - started) / 1000);
    const share = total ? ` (${Math.min(99, Math.floor((100 * compiled) / total))} %)` : "";
    log(
      `  ${target.binary}: ${compiled}/${total ?? "?"} packages compiled${share}, ${downloads} modules downloaded, ${seconds} s`,
    );
  };
  const ticker = setInterval(progress, 15_000);
  createInterface({ input: child.stderr }).on("line", (line) => {
    if (line.startsWith("go: downloading ")) downloads++;
    else if (/^\S+$/.test(line)) compiled++;
    else log(line);
  });
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once("error", (error) => resolve({ code: null, signal: null, error }));
      child.once("close", (code, signal) => resolve({ code, signal }));
    },
  );
  clearInterval(ticker);
  if (result.error || result.code !== 0) {
    throw new Error(
      `go build ${target.pkg} failed (${result.error?.message ?? `exit ${result.code ?? result.signal}`}); see the output above`,
    );
  }
  log(`  ${target.binary}: built in ${Math.round((Date.now() - started) / 1000)} s`);
}
