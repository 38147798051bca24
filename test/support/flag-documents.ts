// Flag documents for tests and the kubelet's way of updating a mounted ConfigMap volume, shared by
// unit tests, the sidecar integration tests and the fault suite.
import { mkdir, mkdtemp, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildDocument, type FlagDocument, type ResolvedFlag } from "../../src/core/index.js";

export function flag(over: Partial<ResolvedFlag> = {}): ResolvedFlag {
  return { enabled: true, killed: false, percent: 100, allowedUsers: [], revision: "r1", ...over };
}

export function makeDocument(flags: Record<string, Partial<ResolvedFlag>>, namespace = "shop"): FlagDocument {
  return buildDocument(namespace, Object.fromEntries(Object.entries(flags).map(([k, f]) => [k, flag(f)])));
}

export async function tempDir(
  prefix = "flagwright-test-",
): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * Writes files into `dir` the way the kubelet's AtomicWriter updates a ConfigMap volume: a fresh
 * `..<timestamp>` directory, a `..data_tmp` symlink to it renamed over `..data`, per-key symlinks
 * `<key> -> ..data/<key>`, then removal of the previous timestamped directory.
 */
export async function kubeletWrite(dir: string, files: Record<string, string>): Promise<void> {
  const stamp = `..${new Date().toISOString().replace(/[-:]/g, "_")}.${Math.random().toString(36).slice(2, 10)}`;
  await mkdir(join(dir, stamp));
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, stamp, name), content);
  let previous: string | undefined;
  try {
    previous = await readlink(join(dir, "..data"));
  } catch {
    previous = undefined;
  }
  await symlink(stamp, join(dir, "..data_tmp"));
  await rename(join(dir, "..data_tmp"), join(dir, "..data"));
  for (const name of Object.keys(files)) {
    await symlink(join("..data", name), join(dir, name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
  }
  if (previous !== undefined) await rm(join(dir, previous), { recursive: true, force: true });
}
