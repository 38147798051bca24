// Watches objects through the API for tests that need to see every version of an object (not just
// the latest one a poll happens to read) and when each arrived: a list-then-watch with
// @kubernetes/client-node's Watch, each event stamped with Date.now() on receipt, so it can be
// compared with other processes' wall-clock log times on the same machine.
import { type KubernetesObject, Watch } from "@kubernetes/client-node";
import { type FlagDocument, parseDocument } from "../../src/core/index.js";
import { kubeConfig } from "./kube.js";
import { waitFor } from "./wait.js";

export interface Seen<T> {
  /** Date.now() when the event reached this process. */
  at: number;
  type: string;
  object: T;
}

export interface ObjectWatch<T> {
  /** Every event so far, oldest first. */
  readonly events: Seen<T>[];
  /** The first event (already seen or still to come) whose object satisfies `test`. */
  until(
    test: (object: T) => boolean,
    options?: { timeoutMs?: number; what?: string; after?: number },
  ): Promise<Seen<T>>;
  stop(): void;
}

/**
 * Watches `path` (a collection, e.g. /api/v1/namespaces/x/configmaps) for objects matching
 * `fieldSelector`. Resolves once the watch is established, so nothing written afterwards is missed.
 */
export async function watchObjects<T extends KubernetesObject>(
  path: string,
  fieldSelector: string,
): Promise<ObjectWatch<T>> {
  const events: Seen<T>[] = [];
  let failure: unknown;
  let stopped = false;
  const controller = await new Watch(kubeConfig()).watch(
    path,
    { fieldSelector, allowWatchBookmarks: false },
    (type, object: T) => {
      events.push({ at: Date.now(), type, object });
    },
    (error) => {
      if (!stopped) failure = error ?? new Error(`watch on ${path} ended`);
    },
  );
  return {
    events,
    async until(test, { timeoutMs = 10_000, what = "a matching watch event", after = 0 } = {}) {
      return waitFor(
        () => {
          const hit = events.find((e) => e.at >= after && e.type !== "DELETED" && test(e.object));
          if (hit) return hit;
          if (failure) throw new Error(`watch failed: ${String(failure)}`);
          return undefined;
        },
        { timeoutMs, intervalMs: 5, what },
      );
    },
    stop() {
      stopped = true;
      controller.abort();
    },
  };
}

/** The namespace's projected flags document, version by version. */
export interface FlagsWatch
  extends ObjectWatch<{ metadata?: { name?: string }; data?: Record<string, string> }> {
  /** Parsed documents, oldest first, with receipt times. */
  documents(): { at: number; doc: FlagDocument }[];
  /** The first document (seen or still to come) where `test` holds for flag `key`. */
  untilFlag(
    key: string,
    test: (flag: FlagDocument["flags"][string]) => boolean,
    options?: { timeoutMs?: number; what?: string; after?: number },
  ): Promise<{ at: number; doc: FlagDocument }>;
  /** The distinct successive values of `pick` for flag `key` (repeats collapsed). */
  trail<V>(key: string, pick: (flag: FlagDocument["flags"][string]) => V): V[];
}

export async function watchFlagsConfigMap(namespace: string, name = "flagwright-flags"): Promise<FlagsWatch> {
  const base = await watchObjects<{ metadata?: { name?: string }; data?: Record<string, string> }>(
    `/api/v1/namespaces/${namespace}/configmaps`,
    `metadata.name=${name}`,
  );
  const parse = (text: string | undefined) => {
    try {
      return text ? parseDocument(text) : undefined;
    } catch {
      return undefined;
    }
  };
  const documents = () =>
    base.events
      .filter((e) => e.type !== "DELETED")
      .flatMap((e) => {
        const doc = parse(e.object.data?.["flags.json"]);
        return doc ? [{ at: e.at, doc }] : [];
      });
  return Object.assign(base, {
    documents,
    async untilFlag(
      key: string,
      test: (flag: FlagDocument["flags"][string]) => boolean,
      options: { timeoutMs?: number; what?: string; after?: number } = {},
    ) {
      const seen = await base.until((cm) => {
        const flag = parse(cm.data?.["flags.json"])?.flags[key];
        return flag !== undefined && test(flag);
      }, options);
      return { at: seen.at, doc: parse(seen.object.data?.["flags.json"]) as FlagDocument };
    },
    trail<V>(key: string, pick: (flag: FlagDocument["flags"][string]) => V): V[] {
      const out: V[] = [];
      for (const { doc } of documents()) {
        const flag = doc.flags[key];
        if (!flag) continue;
        const value = pick(flag);
        if (out.length === 0 || out[out.length - 1] !== value) out.push(value);
      }
      return out;
    },
  });
}
