// Follows a ConfigMap through the Kubernetes API: list, then watch from the list's resourceVersion
// (client-node's informer relists by itself after 410 Gone); on any other error we restart it with
// capped exponential backoff. Typical propagation is a few milliseconds after the API write.
import { CoreV1Api, type KubeConfig, ListWatch, type V1ConfigMap, Watch } from "@kubernetes/client-node";

export interface ConfigMapSourceOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  /** Data key holding the document. Default: flags.json. */
  key?: string;
  onText(text: string, origin: string): void;
  onError(error: Error, origin: string): void;
  /** A watch (re)connected or the object disappeared; for logs. */
  onEvent?(event: "connect" | "delete", origin: string): void;
}

export class ConfigMapSource {
  readonly #opts: ConfigMapSourceOptions;
  readonly #origin: string;
  #informer: ListWatch<V1ConfigMap> | undefined;
  #stopped = false;
  #backoffMs = 250;
  #retry: NodeJS.Timeout | undefined;
  #firstSeen: (() => void) | undefined;

  constructor(opts: ConfigMapSourceOptions) {
    this.#opts = opts;
    this.#origin = `configmap ${opts.namespace}/${opts.name}`;
  }

  /** Resolves once the first list completed (or failed); serving starts when a document arrives. */
  async start(): Promise<void> {
    const { kubeConfig, namespace, name } = this.#opts;
    const api = kubeConfig.makeApiClient(CoreV1Api);
    const fieldSelector = `metadata.name=${name}`;
    // ListWatch directly (not makeInformer) because only it takes a field selector: we want this one
    // ConfigMap, not every ConfigMap in the namespace.
    const informer = new ListWatch<V1ConfigMap>(
      `/api/v1/namespaces/${namespace}/configmaps`,
      new Watch(kubeConfig),
      () => api.listNamespacedConfigMap({ namespace, fieldSelector }),
      false,
      undefined,
      fieldSelector,
    );
    this.#informer = informer;
    const firstList = new Promise<void>((resolve) => {
      this.#firstSeen = resolve;
    });
    informer.on("add", (cm) => this.#take(cm));
    informer.on("update", (cm) => this.#take(cm));
    informer.on("delete", () => this.#opts.onEvent?.("delete", this.#origin));
    informer.on("connect", () => {
      this.#opts.onEvent?.("connect", this.#origin);
    });
    let attemptFailed = false;
    const connect = () => {
      attemptFailed = false;
      // start() resolves once the list is done and the watch is open, or after a failure it
      // reported through "error"; it rejects if opening the watch itself throws.
      informer.start().then(() => {
        if (!attemptFailed) this.#resetBackoff();
        this.#firstSeen?.();
      }, fail);
    };
    const fail = (error: unknown) => {
      attemptFailed = true;
      this.#firstSeen?.();
      if (this.#stopped) return;
      this.#opts.onError(error instanceof Error ? error : new Error(String(error)), this.#origin);
      if (this.#retry) return;
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        if (!this.#stopped) connect();
      }, this.#backoffMs);
      this.#backoffMs = Math.min(this.#backoffMs * 2, 30_000);
    };
    informer.on("error", fail);
    connect();
    await firstList;
  }

  #resetBackoff(): void {
    this.#backoffMs = 250;
  }

  #take(cm: V1ConfigMap): void {
    this.#firstSeen?.();
    const key = this.#opts.key ?? "flags.json";
    const text = cm.data?.[key];
    if (text === undefined) {
      this.#opts.onError(new Error(`${this.#origin} has no data key "${key}"`), this.#origin);
      return;
    }
    this.#opts.onText(text, `${this.#origin}@${cm.metadata?.resourceVersion ?? "?"}`);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    await this.#informer?.stop();
  }
}
