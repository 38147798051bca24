// Builds the project's container image (the Dockerfile, unchanged) on a machine that has no
// container registry: its two base images are assembled from Debian packages with mmdebstrap and
// passed in as BUILD_IMAGE and RUNTIME_IMAGE, then Debian's podman builds the image with runc
// and vfs storage (what works as root on these machines: the default crun refuses hybrid
// cgroups). Base images are tagged by a hash of their definition, so they are assembled once.
// Where this machine's npm trusts an extra CA (a proxy's), the build stages get it too.
//
//   node --import tsx scripts/image.ts [--tag NAME]     # prints the image name and its size
//   node --import tsx scripts/image.ts --bases-only     # only the two bases (.ci/run, beside the Go builds)
//
// Needs podman, runc and mmdebstrap (apt-get install podman runc mmdebstrap; .ci/run does) and
// root. Used by test/integration/image/image.test.ts.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** Global podman options for these machines (see above); `--events-backend file`: no journald. */
export const PODMAN = [
  "podman",
  "--storage-driver",
  "vfs",
  "--runtime",
  "runc",
  "--cgroup-manager",
  "cgroupfs",
  "--events-backend",
  "file",
];
/** podman's default limits exceed what this kernel grants a container; these are explicit. */
export const ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"];

export const DEFAULT_TAG = "localhost/flagwright:dev";
const SUITE = "trixie"; // its nodejs is 20.19, the Node major the project targets
const MIRROR = "http://deb.debian.org/debian";

/** Why the image cannot be built here, or undefined when it can. */
export function missingTools(): string | undefined {
  const missing = ["podman", "runc", "mmdebstrap"].filter(
    (tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0,
  );
  if (missing.length) return `${missing.join(", ")} not installed (apt-get install podman runc mmdebstrap)`;
  if (process.getuid?.() !== 0)
    return "building needs root (podman with vfs storage, mmdebstrap --mode=root)";
  return undefined;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; output is collected and, with `log`, also passed on line by line. */
export function run(
  command: string[],
  options: { log?: (line: string) => void; input?: string } = {},
): Promise<Run> {
  const [bin, ...args] = command as [string, ...string[]];
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd: repoRoot, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const pass = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line.trim()) options.log?.(line);
    };
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
      pass(d);
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      pass(d);
    });
    child.stdin.end(options.input ?? "");
    child.once("error", (error) => resolve({ code: 127, stdout, stderr: `${stderr}${error.message}` }));
    child.once("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

async function must(command: string[], log?: (line: string) => void): Promise<Run> {
  const result = await run(command, { log });
  if (result.code !== 0) {
    throw new Error(
      `${command.slice(0, 3).join(" ")} ... failed (exit ${result.code}):\n${result.stderr.slice(-2000)}`,
    );
  }
  return result;
}

// The runtime base, distroless-like: only nodejs and its libraries, extracted without running
// any maintainer script (so no shell, no dpkg, no apt), then given what distroless has: the
// merged-/usr links (the dynamic loader is found through /lib64), a CA bundle, a nonroot user 65532
// with a home, a world-writable /tmp and node at /nodejs/bin/node (the Dockerfile's entrypoint).
// mmdebstrap runs no hooks for --variant=extract, so finishRuntimeRoot does this on the folder.
// Bump when finishRuntimeRoot changes, so the runtime base is assembled again.
const RUNTIME_LAYOUT = 1;
function finishRuntimeRoot(root: string): void {
  const at = (path: string) => join(root, path);
  for (const dir of ["bin", "lib", "lib64", "sbin"]) {
    if (!existsSync(at(dir)) && existsSync(at(`usr/${dir}`))) symlinkSync(`usr/${dir}`, at(dir));
  }
  const mozilla = at("usr/share/ca-certificates/mozilla");
  mkdirSync(at("etc/ssl/certs"), { recursive: true });
  writeFileSync(
    at("etc/ssl/certs/ca-certificates.crt"),
    readdirSync(mozilla)
      .sort()
      .map((file) => readFileSync(join(mozilla, file), "utf8").trimEnd())
      .join("\n"),
  );
  writeFileSync(
    at("etc/passwd"),
    "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
  );
  writeFileSync(at("etc/group"), "root:x:0:\nnonroot:x:65532:\n");
  mkdirSync(at("home/nonroot"), { recursive: true });
  chownSync(at("home/nonroot"), 65532, 65532);
  mkdirSync(at("tmp"), { recursive: true });
  chmodSync(at("tmp"), 0o1777);
  mkdirSync(at("nodejs/bin"), { recursive: true });
  symlinkSync("/usr/bin/node", at("nodejs/bin/node"));
  for (const path of [
    "usr/share/doc",
    "usr/share/man",
    "usr/share/locale",
    "usr/share/lintian",
    "var/cache",
    "var/lib/apt",
  ]) {
    rmSync(at(path), { recursive: true, force: true });
  }
}

const bases = {
  build: {
    mmdebstrap: ["--variant=minbase", "--include=nodejs,npm,ca-certificates"],
    finish: undefined,
    changes: ["ENV PATH=/usr/local/bin:/usr/bin:/bin"],
  },
  runtime: {
    mmdebstrap: ["--variant=extract", "--include=nodejs,ca-certificates"],
    finish: finishRuntimeRoot,
    changes: ["USER 65532:65532", "WORKDIR /home/nonroot", "ENV PATH=/nodejs/bin:/usr/bin"],
  },
};
type Base = keyof typeof bases;

function baseTag(base: Base): string {
  const { mmdebstrap, finish, changes } = bases[base];
  const hash = createHash("sha256")
    .update(JSON.stringify({ SUITE, MIRROR, mmdebstrap, changes, ...(finish && { layout: RUNTIME_LAYOUT }) }))
    .digest("hex")
    .slice(0, 12);
  return `localhost/flagwright-base-${base}:${hash}`;
}

/** Assembles a base image from Debian packages unless its tag is already in podman's storage. */
async function ensureBase(base: Base, log: (line: string) => void): Promise<string> {
  const tag = baseTag(base);
  if ((await run([...PODMAN, "image", "exists", tag])).code === 0) return tag;
  const started = Date.now();
  log(`assembling ${tag} from Debian ${SUITE} packages (mmdebstrap; once)...`);
  const dir = mkdtempSync(join(tmpdir(), "flagwright-base-"));
  try {
    const tar = join(dir, "rootfs.tar");
    const { finish } = bases[base];
    if (finish) {
      const root = join(dir, "root");
      await must(["mmdebstrap", "--quiet", "--mode=root", ...bases[base].mmdebstrap, SUITE, root, MIRROR]);
      finish(root);
      await must(["tar", "--create", "--file", tar, "--directory", root, "--numeric-owner", "."]);
    } else {
      await must(["mmdebstrap", "--quiet", "--mode=root", ...bases[base].mmdebstrap, SUITE, tar, MIRROR]);
    }
    await must([...PODMAN, "import", ...bases[base].changes.flatMap((c) => ["--change", c]), tar, tag]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  log(`assembled ${tag} in ${Math.round((Date.now() - started) / 1000)} s`);
  return tag;
}

/**
 * The CA bundle this machine's npm trusts beyond Node's own (NODE_EXTRA_CA_CERTS, else npm's
 * `cafile`), e.g. a proxy's that re-signs registry traffic; undefined when there is none.
 */
function extraCaFile(): string | undefined {
  const npmCafile = spawnSync("npm", ["config", "get", "cafile"], { encoding: "utf8" }).stdout?.trim();
  for (const file of [process.env.NODE_EXTRA_CA_CERTS, npmCafile]) {
    if (file && file !== "null" && file !== "undefined" && existsSync(file)) return file;
  }
  return undefined;
}

/**
 * The build base as this machine's npm needs it: where npm here trusts an extra CA, a layer on
 * top of the Debian base adds that bundle for the build stages' `npm ci` (NODE_EXTRA_CA_CERTS).
 * The runtime stage starts from its own base, so the bundle never reaches the image.
 */
async function withMachineTrust(base: string, log: (line: string) => void): Promise<string> {
  const caFile = extraCaFile();
  if (!caFile) return base;
  const ca = readFileSync(caFile);
  const tag = `${base.replace("flagwright-base-build:", "flagwright-base-build-trust:")}-${createHash("sha256").update(ca).digest("hex").slice(0, 8)}`;
  if ((await run([...PODMAN, "image", "exists", tag])).code === 0) return tag;
  log(`adding this machine's npm CA bundle (${caFile}) to the build stages' base as ${tag}`);
  const dir = mkdtempSync(join(tmpdir(), "flagwright-trust-"));
  try {
    writeFileSync(join(dir, "ca.crt"), ca);
    writeFileSync(
      join(dir, "Containerfile"),
      `FROM ${base}\nCOPY ca.crt /etc/ssl/certs/flagwright-build-ca.crt\nENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/flagwright-build-ca.crt\n`,
    );
    await must([...PODMAN, "build", "--pull=never", ...ULIMITS, "--tag", tag, dir]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return tag;
}

/** Assembles the two Debian base images (once; later calls find them in podman's storage). */
export async function ensureBases(
  log: (line: string) => void = () => {},
): Promise<{ build: string; runtime: string }> {
  const why = missingTools();
  if (why) throw new Error(`cannot build the image: ${why}`);
  return {
    build: await withMachineTrust(await ensureBase("build", log), log),
    runtime: await ensureBase("runtime", log),
  };
}

/** Builds the image from the project's Dockerfile on local Debian bases; returns its name. */
export async function buildImage(
  options: { tag?: string; log?: (line: string) => void } = {},
): Promise<string> {
  const { tag = DEFAULT_TAG, log = () => {} } = options;
  const { build: buildBase, runtime: runtimeBase } = await ensureBases(log);
  // Even with every layer cached, a vfs build copies and deletes whole trees for minutes: an
  // image of the same build context and bases is tagged again instead.
  const built = `localhost/flagwright:context-${contextHash(buildBase, runtimeBase)}`;
  if ((await run([...PODMAN, "image", "exists", built])).code === 0) {
    await must([...PODMAN, "tag", built, tag]);
    log(`${tag}: the image of this build context exists (${built}), tagged without a build`);
    return tag;
  }
  const started = Date.now();
  log(`building ${tag} from Dockerfile (BUILD_IMAGE=${buildBase}, RUNTIME_IMAGE=${runtimeBase})...`);
  await must(
    [
      ...PODMAN,
      "build",
      "--pull=never",
      "--layers",
      "--network",
      "host",
      ...ULIMITS,
      "--build-arg",
      `BUILD_IMAGE=${buildBase}`,
      "--build-arg",
      `RUNTIME_IMAGE=${runtimeBase}`,
      "--tag",
      tag,
      "--tag",
      built,
      "--file",
      "Dockerfile",
      ".",
    ],
    log,
  );
  log(`built ${tag} in ${Math.round((Date.now() - started) / 1000)} s`);
  // vfs keeps a full copy per layer: the stages of earlier builds (untagged now) filled a CI
  // machine's disk after a few runs. This build's own stages stay, as the next build's cache.
  const pruned = await run([
    ...PODMAN,
    "image",
    "prune",
    "--force",
    "--filter",
    `until=${Math.floor(started / 1000)}`,
  ]);
  if (pruned.code !== 0)
    log(`pruning earlier builds' untagged images failed (not fatal): ${pruned.stderr.slice(-300)}`);
  return tag;
}

/**
 * A hash of what the build sees: the Dockerfile, .dockerignore's allow-list (package files,
 * tsconfigs, src/ without tests, the bundle script, crds/) and the two bases.
 */
function contextHash(buildBase: string, runtimeBase: string): string {
  const hash = createHash("sha256").update(`${buildBase}\n${runtimeBase}\n`);
  const files = ["Dockerfile", ".dockerignore", "package.json", "package-lock.json", "tsconfig.json"];
  files.push("tsconfig.build.json", "scripts/bundle.ts");
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(repoRoot, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (!path.endsWith(".test.ts")) files.push(path);
    }
  };
  walk("src");
  walk("crds");
  for (const file of files.sort()) {
    hash
      .update(`${file}\0`)
      .update(readFileSync(join(repoRoot, file)))
      .update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

/** The image's uncompressed size in bytes, as podman reports it. */
export async function imageSize(image: string): Promise<number> {
  const { stdout } = await must([...PODMAN, "image", "inspect", "--format", "{{.Size}}", image]);
  return Number(stdout.trim());
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      tag: { type: "string", default: DEFAULT_TAG },
      "bases-only": { type: "boolean", default: false },
    },
  });
  const log = (line: string) => console.error(`[image] ${line}`);
  if (values["bases-only"]) {
    const bases = await ensureBases(log);
    console.log(`${bases.build} ${bases.runtime}`);
  } else {
    const image = await buildImage({ tag: values.tag, log });
    console.log(`${image} ${((await imageSize(image)) / 1e6).toFixed(1)} MB`);
  }
}
