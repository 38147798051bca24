// etcd's JSON gateway (POST /v3/kv/*) on the control plane's etcd client URL: the store's current
// revision, compaction, and the revisions at which one key changed (its full history, as long as
// nothing compacted it), for tests that must see every write rather than what a watch delivered.

const b64 = (text: string) => Buffer.from(text).toString("base64");

async function post<T>(etcd: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${etcd}${path}`, { method: "POST", body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

interface RangeResponse {
  header: { revision: string };
  kvs?: { mod_revision: string; create_revision: string }[];
}

/** The store's current revision (every write to any key increments it). */
export async function etcdRevision(etcd: string): Promise<number> {
  const res = await post<RangeResponse>(etcd, "/v3/kv/range", { key: b64("/registry/"), keys_only: true });
  return Number(res.header.revision);
}

/** Compacts (physically) up to `revision`: reads and watches from older revisions fail from now on. */
export async function compactEtcd(etcd: string, revision: number): Promise<void> {
  await post(etcd, "/v3/kv/compaction", { revision: String(revision), physical: true });
}

/**
 * Every revision at which `key` was written since it was (last) created, oldest first, found by
 * walking back through mod_revision. A deletion ends the walk.
 */
export async function keyRevisions(etcd: string, key: string): Promise<number[]> {
  const revisions: number[] = [];
  let at = await etcdRevision(etcd);
  for (;;) {
    const res = await post<RangeResponse>(etcd, "/v3/kv/range", {
      key: b64(key),
      keys_only: true,
      revision: String(at),
    });
    const kv = res.kvs?.[0];
    if (!kv) break;
    const modified = Number(kv.mod_revision);
    revisions.unshift(modified);
    if (modified === Number(kv.create_revision)) break;
    at = modified - 1;
  }
  return revisions;
}
