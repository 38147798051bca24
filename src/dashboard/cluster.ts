// The dashboard's view of the cluster, through the user's own kubeconfig (so the API server's RBAC
// decides what the page may show and do): a watch of every FeatureFlag the user may list, and
// one-off reads of segments and the namespace's projected document.
import type { CoreV1Event, KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { type FeatureFlag, GROUP, KIND, PLURAL, type Segment, VERSION } from "../api/index.js";
import { apiMessage, ControlApiError } from "../controls/apply.js";
import { DOCUMENT_KEY, type FlagDocument, parseDocument } from "../core/index.js";
import { ApiException, CoreV1Api, CustomObjectsApi } from "../kube/client.js";
import { listFeatureFlags, listSegments } from "../kube/featureflags.js";
import { Informer } from "../kube/informer.js";

/** Turns an ApiException into a ControlApiError naming the request; anything else passes through. */
export function refused(error: unknown, request: ControlApiError["request"]): Error {
  if (error instanceof ApiException) return new ControlApiError(apiMessage(error), error.code, request);
  return error as Error;
}

// Never shown, and large: server-side apply bookkeeping and the last-applied copy of the spec.
function slim(flag: FeatureFlag): FeatureFlag {
  const { managedFields: _m, annotations, ...metadata } = flag.metadata;
  const rest = { ...annotations };
  delete rest["kubectl.kubernetes.io/last-applied-configuration"];
  return { ...flag, metadata: { ...metadata, ...(Object.keys(rest).length > 0 && { annotations: rest }) } };
}

export type FlagChange = { type: "upsert"; flag: FeatureFlag } | { type: "delete"; flag: FeatureFlag };

export class ClusterView {
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;
  #informers: Informer<FeatureFlag>[] = [];
  /** Namespaces watched; undefined means all (the user may list flags cluster-wide). */
  scopes: (string | undefined)[] = [];

  constructor(
    readonly kc: KubeConfig,
    private readonly log: Logger,
    private readonly configMapName: string,
  ) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /**
   * Starts watching: the given namespaces, else every namespace when the user may list flags
   * cluster-wide, else the kubeconfig context's namespace. Resolves once every watch has listed.
   */
  async start(namespaces: readonly string[], onChange: (change: FlagChange) => void): Promise<void> {
    if (namespaces.length > 0) this.scopes = [...namespaces];
    else {
      try {
        await listFeatureFlags(this.custom);
        this.scopes = [undefined];
      } catch (error) {
        if (!(error instanceof ApiException) || error.code !== 403) throw error;
        const context = this.kc.getContextObject(this.kc.getCurrentContext());
        const namespace = context?.namespace ?? "default";
        this.log.warn(
          { reason: "ClusterListForbidden", namespace },
          "listing featureflags in all namespaces is forbidden; showing the context's namespace only (use -n)",
        );
        this.scopes = [namespace];
      }
    }
    const synced: Promise<void>[] = [];
    for (const namespace of this.scopes) {
      const informer = new Informer<FeatureFlag>({
        name: `featureflags ${namespace ?? "(all namespaces)"}`,
        kc: this.kc,
        log: this.log,
        list: () => listFeatureFlags(this.custom, namespace),
        path: namespace
          ? `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`
          : `/apis/${GROUP}/${VERSION}/${PLURAL}`,
        transform: slim,
      });
      informer.on("add", (flag) => onChange({ type: "upsert", flag }));
      informer.on("update", (_old, flag) => onChange({ type: "upsert", flag }));
      informer.on("delete", (flag) => onChange({ type: "delete", flag }));
      synced.push(new Promise((resolve) => informer.once("relisted", () => resolve())));
      informer.start();
      this.#informers.push(informer);
    }
    await Promise.all(synced);
  }

  /** Every watched flag, for the pages that list them all. */
  flags(): FeatureFlag[] {
    return this.#informers.flatMap((i) => i.list());
  }

  /** One flag by key, from the cache of the watch that covers its namespace: nothing is copied. */
  flag(namespace: string, name: string): FeatureFlag | undefined {
    for (const informer of this.#informers) {
      const flag = informer.get(namespace, name);
      if (flag) return flag;
    }
    return undefined;
  }

  async segments(namespace: string): Promise<Segment[]> {
    try {
      return (await listSegments(this.custom, namespace)).items;
    } catch (error) {
      throw refused(error, { verb: "list", resource: "segments", namespace });
    }
  }

  /** The Kubernetes Events the operator recorded for one flag. */
  async events(namespace: string, name: string): Promise<CoreV1Event[]> {
    try {
      const list = await this.core.listNamespacedEvent({
        namespace,
        fieldSelector: `involvedObject.kind=${KIND},involvedObject.name=${name}`,
      });
      return list.items;
    } catch (error) {
      throw refused(error, { verb: "list", resource: "events", namespace });
    }
  }

  /** The namespace's projected document, as the sidecar reads it. */
  async document(namespace: string): Promise<FlagDocument> {
    const name = this.configMapName;
    let data: Record<string, string> | undefined;
    try {
      data = (await this.core.readNamespacedConfigMap({ name, namespace })).data;
    } catch (error) {
      throw refused(error, { verb: "get", resource: "configmaps", namespace, name });
    }
    const text = data?.[DOCUMENT_KEY];
    if (text === undefined) throw new Error(`configmap ${namespace}/${name} has no ${DOCUMENT_KEY}`);
    return parseDocument(text);
  }

  async stop(): Promise<void> {
    await Promise.all(this.#informers.map((i) => i.stop()));
  }
}
