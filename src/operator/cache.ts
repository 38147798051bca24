// The operator's cache: one informer per watched scope for FeatureFlags, Segments and the projected
// ConfigMap, each object trimmed to what the operator reads; getters by key and by namespace that
// copy nothing; and own-write echo suppression (our own write coming back needs no reconcile).
import type { KubeConfig, KubernetesObject, V1ConfigMap } from "@kubernetes/client-node";
import type { Logger } from "pino";
import {
  type FeatureFlag,
  GROUP,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  PLURAL,
  SEGMENT_PLURAL,
  type Segment,
  VERSION,
} from "../api/index.js";
import { DOCUMENT_KEY } from "../core/index.js";
import { CoreV1Api, CustomObjectsApi } from "../kube/client.js";
import { listFeatureFlags, listSegments } from "../kube/featureflags.js";
import { Informer, type InformerOptions } from "../kube/informer.js";
import { type ProjectedConfigMap, REVISION_ANNOTATION } from "./plan.js";

/** The ConfigMap as cached: metadata the operator reads and the document's revision, not its data. */
type CachedConfigMap = KubernetesObject & { documentRevision?: string };

/** What the cache does with every informer alike. */
interface AnyInformer {
  readonly synced: boolean;
  start(): void;
  stop(): Promise<void>;
  on(event: "relisted", listener: () => void): unknown;
}

/** The kinds whose own writes the cache recognizes when they come back through the watch. */
export type OwnWriteKind = "FeatureFlag" | "ConfigMap";

export interface CacheOptions {
  kc: KubeConfig;
  log: Logger;
  /** Namespaces to watch; empty means all. */
  namespaces?: string[];
  configMapName: string;
  /** Informer tuning, for tests of outages. */
  informer?: { watchTimeoutSeconds?: number; maxBackoffMs?: number };
}

/** What the cache tells the controller. */
export interface CacheEvents {
  /** Something in this namespace changed that the last plan has not seen. */
  changed(namespace: string): void;
  /** An informer relisted: anything may have been missed. */
  relisted(): void;
  /** A flag's new version (or its deletion) reached the cache. */
  flagObserved(flag: FeatureFlag, deleted: boolean): void;
}

export class OperatorCache {
  readonly name = "cache";
  readonly needsLeadership = false;
  readonly #flags: Informer<FeatureFlag>[] = [];
  readonly #segments: Informer<Segment>[] = [];
  readonly #configMaps: Informer<CachedConfigMap>[] = [];
  /** resourceVersions our own writes produced, by object: their watch events need no reconcile. */
  readonly #ownWrites = new Map<string, string>();
  readonly #configMapName: string;

  constructor(options: CacheOptions) {
    this.#configMapName = options.configMapName;
    const core = options.kc.makeApiClient(CoreV1Api);
    const custom = options.kc.makeApiClient(CustomObjectsApi);
    for (const namespace of options.namespaces?.length ? options.namespaces : [undefined]) {
      const scope = (resource: string, path: string) => ({
        name: `${resource}${namespace ? `/${namespace}` : ""}`,
        kc: options.kc,
        log: options.log,
        ...options.informer,
        path: `${path}${namespace ? `/namespaces/${namespace}` : ""}/${resource}`,
      });
      const crd = `/apis/${GROUP}/${VERSION}`;
      this.#flags.push(
        new Informer<FeatureFlag>({
          ...scope(PLURAL, crd),
          transform: cachedFlag,
          list: () => listFeatureFlags(custom, namespace, cachedFlag),
        }),
      );
      this.#segments.push(
        new Informer<Segment>({ ...scope(SEGMENT_PLURAL, crd), list: () => listSegments(custom, namespace) }),
      );
      this.#configMaps.push(
        new Informer<CachedConfigMap>({
          ...scope("configmaps", "/api/v1"),
          ...configMapWatch(core, namespace, this.#configMapName),
        }),
      );
    }
  }

  /** Routes informer events to the controller; call once, before start. */
  handle(events: CacheEvents): void {
    const changed = (object: KubernetesObject) => {
      if (object.metadata?.namespace) events.changed(object.metadata.namespace);
    };
    const changedUnlessOwn = (kind: OwnWriteKind, object: KubernetesObject) => {
      if (!this.#isOwnEcho(kind, object)) changed(object);
    };
    // A Segment is used only by flags of its own namespace: re-projecting that namespace re-projects them.
    for (const informer of this.#segments) {
      informer.on("add", changed);
      informer.on("update", (_old, object) => changed(object));
      informer.on("delete", changed);
    }
    for (const informer of this.#flags) {
      informer.on("add", changed);
      informer.on("update", (_old, flag) => {
        events.flagObserved(flag, false);
        changedUnlessOwn("FeatureFlag", flag);
      });
      informer.on("delete", (flag) => {
        events.flagObserved(flag, true);
        this.#forgetOwnWrite("FeatureFlag", flag);
        changed(flag);
      });
    }
    for (const informer of this.#configMaps) {
      // Only our own ConfigMap is watched: someone editing or deleting it gets it restored.
      informer.on("add", (cm) => changedUnlessOwn("ConfigMap", cm));
      informer.on("update", (_old, cm) => changedUnlessOwn("ConfigMap", cm));
      // A deletion is never our echo (the informer hands over the last cached copy, whose
      // resourceVersion may be that of our own write).
      informer.on("delete", (cm) => {
        this.#forgetOwnWrite("ConfigMap", cm);
        changed(cm);
      });
    }
    for (const informer of this.#informers()) informer.on("relisted", () => events.relisted());
  }

  /** A write of ours came back with this resourceVersion: its watch event needs no reconcile. */
  recordOwnWrite(namespace: string, name: string, kind: OwnWriteKind, resourceVersion: string): void {
    this.#ownWrites.set(`${kind}/${namespace}/${name}`, resourceVersion);
  }

  #isOwnEcho(kind: OwnWriteKind, object: KubernetesObject): boolean {
    const id = `${kind}/${object.metadata?.namespace}/${object.metadata?.name}`;
    const own = this.#ownWrites.get(id);
    if (own === undefined || own !== object.metadata?.resourceVersion) return false;
    this.#ownWrites.delete(id);
    return true;
  }

  #forgetOwnWrite(kind: OwnWriteKind, object: KubernetesObject): void {
    this.#ownWrites.delete(`${kind}/${object.metadata?.namespace}/${object.metadata?.name}`);
  }

  #informers(): AnyInformer[] {
    return [...this.#flags, ...this.#configMaps, ...this.#segments];
  }

  /** True once every informer has listed. */
  get synced(): boolean {
    return this.#informers().every((i) => i.synced);
  }

  /**
   * Every cached flag, without a copy. The view is live (Map iteration): a flag changed or removed
   * during a pass that awaits is seen as it is when reached, or not at all.
   */
  *flags(): IterableIterator<FeatureFlag> {
    for (const informer of this.#flags) yield* informer.values();
  }

  /** The namespace's flags, for one reconcile. */
  flagsIn(namespace: string): FeatureFlag[] {
    return this.#flags.flatMap((i) => i.listNamespace(namespace));
  }

  /** The namespace's Segments, for the rules that name them. */
  segmentsIn(namespace: string): Segment[] {
    return this.#segments.flatMap((i) => i.listNamespace(namespace));
  }

  /** What the cache holds of the namespace's projected ConfigMap. */
  projectedConfigMap(namespace: string): ProjectedConfigMap | undefined {
    for (const informer of this.#configMaps) {
      const cm = informer.get(namespace, this.#configMapName);
      if (cm)
        return {
          revision: cm.documentRevision,
          managed: cm.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE,
          ownerReferences: cm.metadata?.ownerReferences?.length ?? 0,
        };
    }
    return undefined;
  }

  /** Namespaces that hold flags or a projected ConfigMap. */
  knownNamespaces(): Set<string> {
    const namespaces = new Set<string>();
    for (const informer of [...this.#flags, ...this.#configMaps]) {
      for (const namespace of informer.namespaceNames()) if (namespace) namespaces.add(namespace);
    }
    return namespaces;
  }

  start(): void {
    for (const informer of this.#informers()) informer.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#informers().map((i) => i.stop()));
  }
}

/**
 * The projected ConfigMap's list and watch. Only the one name the operator projects: RBAC grants
 * list and watch by resourceNames only to requests whose field selector names the object, so the
 * shipped role allows no other ConfigMap.
 */
function configMapWatch(
  core: CoreV1Api,
  namespace: string | undefined,
  configMapName: string,
): Pick<InformerOptions<CachedConfigMap>, "query" | "transform" | "list"> {
  const labelSelector = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
  const fieldSelector = `metadata.name=${configMapName}`;
  return {
    query: { labelSelector, fieldSelector },
    transform: cachedConfigMap,
    list: async () => {
      const list = namespace
        ? await core.listNamespacedConfigMap({ namespace, labelSelector, fieldSelector })
        : await core.listConfigMapForAllNamespaces({ labelSelector, fieldSelector });
      return {
        items: list.items.map(cachedConfigMap),
        resourceVersion: list.metadata?.resourceVersion ?? "",
      };
    },
  };
}

/** Keeps what the operator reads of a FeatureFlag: no managedFields, no last-applied annotation. */
function cachedFlag(flag: FeatureFlag): FeatureFlag {
  const { name, namespace, uid, generation, resourceVersion, creationTimestamp, deletionTimestamp } =
    flag.metadata;
  return {
    apiVersion: flag.apiVersion,
    kind: flag.kind,
    metadata: { name, namespace, uid, generation, resourceVersion, creationTimestamp, deletionTimestamp },
    spec: flag.spec,
    ...(flag.status && { status: flag.status }),
  };
}

/** Keeps a ConfigMap's metadata and its document's revision; the data (up to 1 MiB) goes. */
function cachedConfigMap(cm: V1ConfigMap | CachedConfigMap): CachedConfigMap {
  if (!("data" in cm)) return cm;
  const { name, namespace, resourceVersion, labels, annotations, ownerReferences } = cm.metadata ?? {};
  let documentRevision: string | undefined;
  try {
    const text = cm.data?.[DOCUMENT_KEY];
    documentRevision = text ? (JSON.parse(text) as { revision?: string }).revision : undefined;
  } catch {
    // unreadable content (edited by hand): no revision, so the next reconcile rewrites it
  }
  const revisionAnnotation = annotations?.[REVISION_ANNOTATION];
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name,
      namespace,
      resourceVersion,
      labels,
      ...(revisionAnnotation && { annotations: { [REVISION_ANNOTATION]: revisionAnnotation } }),
      ...(ownerReferences?.length && { ownerReferences }),
    },
    ...(documentRevision && { documentRevision }),
  };
}
