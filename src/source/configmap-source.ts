// Follows one ConfigMap through the Kubernetes API with the shared informer (list, then watch
// from the list's resourceVersion; relists on 410 Gone, on errors with capped backoff, and when
// the watch goes silent). Typical propagation is a few milliseconds after the API write.
import type { KubeConfig, V1ConfigMap } from "@kubernetes/client-node";
import { CoreV1Api } from "../kube/client.js";
import { Informer } from "../kube/informer.js";

export interface ConfigMapSourceOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  /** Data key holding the document. Default: flags.json. */
  key?: string;
  onText(text: string, origin: string): void;
  onError(error: Error, origin: string): void;
  /** The object disappeared; for logs. */
  onEvent?(event: "delete", origin: string): void;
}

export class ConfigMapSource {
  readonly #opts: ConfigMapSourceOptions;
  readonly #origin: string;
  #informer: Informer<V1ConfigMap> | undefined;

  constructor(opts: ConfigMapSourceOptions) {
    this.#opts = opts;
    this.#origin = `configmap ${opts.namespace}/${opts.name}`;
  }

  /** Resolves once the first list completed or failed; serving starts when a document arrives. */
  async start(): Promise<void> {
    const { kubeConfig, namespace, name } = this.#opts;
    const api = kubeConfig.makeApiClient(CoreV1Api);
    // Only this one ConfigMap, not every ConfigMap in the namespace.
    const fieldSelector = `metadata.name=${name}`;
    let settleFirst: () => void = () => {};
    const first = new Promise<void>((resolve) => {
      settleFirst = resolve;
    });
    const informer = new Informer<V1ConfigMap>({
      name: this.#origin,
      kc: kubeConfig,
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      query: { fieldSelector },
      minBackoffMs: 250,
      maxBackoffMs: 30_000,
      list: async () => {
        const list = await api.listNamespacedConfigMap({ namespace, fieldSelector });
        return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? "" };
      },
      onError: (error) => {
        settleFirst();
        this.#opts.onError(error, this.#origin);
      },
    });
    this.#informer = informer;
    informer.on("add", (cm) => this.#take(cm));
    informer.on("update", (_old, cm) => this.#take(cm));
    informer.on("delete", () => this.#opts.onEvent?.("delete", this.#origin));
    informer.on("relisted", () => settleFirst());
    informer.start();
    await first;
  }

  #take(cm: V1ConfigMap): void {
    const key = this.#opts.key ?? "flags.json";
    const text = cm.data?.[key];
    if (text === undefined) {
      this.#opts.onError(new Error(`${this.#origin} has no data key "${key}"`), this.#origin);
      return;
    }
    this.#opts.onText(text, `${this.#origin}@${cm.metadata?.resourceVersion ?? "?"}`);
  }

  async stop(): Promise<void> {
    await this.#informer?.stop();
  }
}
