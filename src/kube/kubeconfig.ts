// Where every KubeConfig comes from: `--kubeconfig` / `--context` or the default chain, on pooled
// keep-alive connections.
import type { KubeConfig } from "@kubernetes/client-node";

/**
 * The KubeConfig for `--kubeconfig` / `--context`, else the default chain (in-cluster service
 * account, $KUBECONFIG, ~/.kube/config), reusing keep-alive connections (pooled-kubeconfig.ts).
 * The client is imported here, on first use, not at module load: it is ~20 MiB even as the
 * build's bundle, and a file-mode sidecar or `flagwright validate` never needs it.
 */
export async function loadKubeConfig(
  options: { kubeconfig?: string; context?: string } = {},
): Promise<KubeConfig> {
  const { PooledKubeConfig } = await import("./pooled-kubeconfig.js");
  const kc = new PooledKubeConfig();
  if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
  else kc.loadFromDefault();
  if (options.context) kc.setCurrentContext(options.context);
  return kc;
}
