// Shared test helpers: documents, a kubelet-style atomic writer and a sidecar on a free port.
import { mkdir, mkdtemp, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { buildDocument, type FlagDocument, type ResolvedFlag } from "../../../src/core/index.js";
import { type Sidecar, type SidecarOptions, startSidecar } from "../../../src/sidecar/index.js";

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

export const silentLogger = pino({ level: "silent" });

export async function startTestSidecar(
  options: Partial<SidecarOptions> & Pick<SidecarOptions, "source">,
): Promise<Sidecar> {
  return startSidecar({
    host: "127.0.0.1",
    port: 0,
    logger: silentLogger,
    defaultMetrics: false,
    ...options,
  });
}

export async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
  };
}

/** Value of one sample in Prometheus text exposition, or undefined. */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return undefined;
}
