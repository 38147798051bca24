// List-then-watch cache of one resource type. Differs from client-node's ListWatch in what an
// operator needs to stay correct: any watch error relists with backoff (never gives up), 410 Gone
// relists at once, and a watch that goes silent past a deadline is torn down and relisted, since a
// half-open connection otherwise looks like "no changes" forever. After every relist `relisted`
// fires so the controller can reconcile whatever it may have missed.
import { EventEmitter } from "node:events";
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Watch } from "./client.js";

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export interface InformerOptions<T> {
  name: string;
  kc: KubeConfig;
  log?: Logger;
  /** Called with every list or watch failure (before the retry). */
  onError?: (error: Error) => void;
  list: () => Promise<ListResult<T>>;
  /** Watch URL path, e.g. /apis/flagwright.dev/v1alpha1/featureflags. */
  path: string;
  query?: Record<string, string>;
  /** The server ends each watch after this long and we start a new one (default 60 s). */
  watchTimeoutSeconds?: number;
  /** A watch with no event, bookmark or close for this long is presumed dead (default timeout + 30 s). */
  staleAfterMs?: number;
  /**
   * Applied to every listed or watched object before it is cached: drop what is never read
   * (managedFields, last-applied annotations, ConfigMap data) so the cache stays small.
   */
  transform?: (object: T) => T;
  /** Retry delays after errors: doubling from minBackoffMs to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

class GoneError extends Error {}

export interface InformerEvents<T> {
  add: [T];
  update: [T, T];
  delete: [T];
  relisted: [];
}

export const objectKey = (o: KubernetesObject) => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;

export class Informer<T extends KubernetesObject> extends EventEmitter<InformerEvents<T>> {
  private readonly cache = new Map<string, T>();
  /** The same objects by namespace, so a reconcile reads its own namespace only. */
  private readonly namespaces = new Map<string, Map<string, T>>();
  private stopped = true;
  private abort?: AbortController;
  private wake?: () => void;
  private running?: Promise<void>;
  synced = false;
  /** Relists since start: 1 after the first sync. */
  relists = 0;

  constructor(private readonly options: InformerOptions<T>) {
    super();
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /** Cached objects of one namespace. */
  listNamespace(namespace: string): T[] {
    return [...(this.namespaces.get(namespace)?.values() ?? [])];
  }

  /**
   * Every cached object, without copying the cache. Live, as Map iteration is: an object added or
   * removed during an iteration that awaits is visited or skipped.
   */
  values(): IterableIterator<T> {
    return this.cache.values();
  }

  /** Namespaces with at least one cached object. */
  namespaceNames(): string[] {
    return [...this.namespaces.keys()];
  }

  get size(): number {
    return this.cache.size;
  }

  private put(key: string, object: T): void {
    this.cache.set(key, object);
    const namespace = object.metadata?.namespace ?? "";
    let objects = this.namespaces.get(namespace);
    if (!objects) {
      objects = new Map();
      this.namespaces.set(namespace, objects);
    }
    objects.set(key, object);
  }

  private remove(key: string, object: T): void {
    this.cache.delete(key);
    const namespace = object.metadata?.namespace ?? "";
    const objects = this.namespaces.get(namespace);
    objects?.delete(key);
    if (objects?.size === 0) this.namespaces.delete(namespace);
  }

  get(namespace: string, name: string): T | undefined {
    return this.cache.get(`${namespace}/${name}`);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.running = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
    await this.running;
  }

  private async run(): Promise<void> {
    const { minBackoffMs = 500, maxBackoffMs = 5_000, log, name, onError } = this.options;
    let failures = 0;
    while (!this.stopped) {
      try {
        let resourceVersion = await this.relist();
        failures = 0;
        while (!this.stopped) resourceVersion = await this.watchOnce(resourceVersion);
      } catch (error) {
        if (this.stopped) break;
        if (error instanceof GoneError) {
          log?.info({ informer: name, reason: "Gone" }, "watch expired (410 Gone); relisting");
          continue;
        }
        const delay = Math.min(minBackoffMs * 2 ** failures, maxBackoffMs);
        failures++;
        onError?.(error as Error);
        log?.warn(
          { informer: name, reason: "WatchFailed", err: (error as Error).message, retryInMs: delay },
          "list/watch failed",
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }

  private async relist(): Promise<string> {
    const { items, resourceVersion } = await this.options.list();
    const transform = this.options.transform ?? ((item: T) => item);
    const fresh = new Map(items.map((item) => [objectKey(item), transform(item)]));
    items.length = 0; // let the untransformed list go before the events run
    for (const [key, old] of this.cache) {
      if (!fresh.has(key)) {
        this.remove(key, old);
        this.emit("delete", old);
      }
    }
    for (const [key, item] of fresh) {
      const old = this.cache.get(key);
      this.put(key, item);
      if (!old) this.emit("add", item);
      else if (old.metadata?.resourceVersion !== item.metadata?.resourceVersion)
        this.emit("update", old, item);
    }
    this.synced = true;
    this.relists++;
    this.emit("relisted");
    return resourceVersion;
  }

  /** One watch from resourceVersion; resolves with the last version seen when the server ends it. */
  private watchOnce(resourceVersion: string): Promise<string> {
    const { kc, path, query = {}, watchTimeoutSeconds = 60 } = this.options;
    const staleAfterMs = this.options.staleAfterMs ?? (watchTimeoutSeconds + 30) * 1000;
    return new Promise<string>((resolve, reject) => {
      let version = resourceVersion;
      let lastSeen = Date.now();
      let settled = false;
      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearInterval(staleness);
        this.abort?.abort();
        if (error) reject(error);
        else resolve(version);
      };
      const staleness = setInterval(
        () => {
          if (Date.now() - lastSeen > staleAfterMs)
            finish(new Error(`no watch event for ${staleAfterMs} ms`));
        },
        Math.min(staleAfterMs, 5_000),
      );
      new Watch(kc)
        .watch(
          path,
          {
            ...query,
            resourceVersion: version,
            allowWatchBookmarks: true,
            timeoutSeconds: watchTimeoutSeconds,
          },
          (type: string, raw: T & { code?: number; message?: string }) => {
            lastSeen = Date.now();
            if (type === "ERROR") {
              finish(raw.code === 410 ? new GoneError(raw.message) : new Error(raw.message ?? "watch error"));
              return;
            }
            version = raw.metadata?.resourceVersion ?? version;
            if (type === "BOOKMARK") return;
            const object = this.options.transform ? this.options.transform(raw) : raw;
            const key = objectKey(object);
            const old = this.cache.get(key);
            if (type === "DELETED") {
              this.remove(key, old ?? object);
              this.emit("delete", old ?? object);
            } else {
              this.put(key, object);
              if (old) this.emit("update", old, object);
              else this.emit("add", object);
            }
          },
          (error: unknown) => {
            if (error && (error as { statusCode?: number }).statusCode === 410) finish(new GoneError("410"));
            else finish(error ? (error as Error) : undefined);
          },
        )
        .then(
          (controller) => {
            this.abort = controller;
            if (settled || this.stopped) controller.abort();
          },
          (error: Error) => finish(error),
        );
    });
  }
}
