import type { KubeConfig } from "@kubernetes/client-node";

/**
 * The KubeConfig for `--kubeconfig` / `--context`, else the default chain (in-cluster service
 * account, $KUBECONFIG, ~/.kube/config). The client is imported here, on first use, not at module
 * load: it is ~70 MiB, and a file-mode sidecar or `flagwright validate` never needs it.
 */
export async function loadKubeConfig(
  options: { kubeconfig?: string; context?: string } = {},
): Promise<KubeConfig> {
  const { KubeConfig } = await import("./client.js");
  const kc = new KubeConfig();
  if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
  else kc.loadFromDefault();
  if (options.context) kc.setCurrentContext(options.context);
  return kc;
}
