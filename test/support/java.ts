// The Java OFREP check (test/providers/java: the official dev.openfeature.contrib.providers:ofrep
// with the OpenFeature Java SDK), built by Maven from Maven Central into
// ~/.cache/flagwright/java-<sources hash> once. A missing java or mvn is an error, never a skip.
// `node --import tsx test/support/java.ts` builds it (.ci/run does) and prints its classpath.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { cacheRoot } from "../../scripts/go-build.js";

const projectDir = fileURLToPath(new URL("../providers/java", import.meta.url));
export const JAVA_MAIN = "dev.flagwright.check.OfrepCheck";

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === "target" ? [] : sources(path);
    return e.name === "pom.xml" || e.name.endsWith(".java") ? [path] : [];
  });
}

function sourceHash(): string {
  const hash = createHash("sha256");
  for (const file of sources(projectDir).sort()) {
    hash.update(relative(projectDir, file)).update("\0").update(readFileSync(file)).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

/** The classpath of the built check, building it first if needed. */
export function ensureJavaCheck(log: (line: string) => void = () => {}): string {
  const dir = join(cacheRoot(), `java-ofrep-${sourceHash()}`);
  const classpath = `${join(dir, "classes")}:${join(dir, "lib", "*")}`;
  if (existsSync(join(dir, ".complete"))) return classpath;
  for (const tool of ["java", "mvn"]) {
    const probe = spawnSync(tool, ["-version"], { encoding: "utf8" });
    if (probe.error || probe.status !== 0) {
      throw new Error(
        `${tool} is required for the Java OFREP provider test (apt-get install default-jdk-headless maven; .ci/run does)`,
      );
    }
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  log(`building ${projectDir} into ${dir}`);
  const r = spawnSync(
    "mvn",
    ["-q", "-B", "-f", join(projectDir, "pom.xml"), `-Dflagwright.buildDir=${tmp}`, "package"],
    { encoding: "utf8" },
  );
  if (r.error || r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`mvn package failed: ${r.error?.message ?? ""}${r.stdout}${r.stderr}`.slice(0, 4000));
  }
  writeFileSync(join(tmp, ".complete"), "");
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return classpath;
}

/** Runs the check with `input` (a plan) on stdin; returns stdout (throws on failure). */
export function runJavaCheck(input: string): string {
  const r = spawnSync("java", ["-cp", ensureJavaCheck(), JAVA_MAIN], {
    input,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error || r.status !== 0) {
    throw new Error(`java ${JAVA_MAIN} exited ${r.status}: ${r.error?.message ?? ""}${r.stderr}`);
  }
  return r.stdout;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(ensureJavaCheck((line) => console.error(`[java] ${line}`)));
}
