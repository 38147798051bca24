// Clients for the suite's real control plane (started by global-setup.ts) and per-test namespaces.
import { randomBytes } from "node:crypto";
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { inject } from "vitest";
import { kubectl as runKubectl } from "../cluster/cluster.js";

export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(inject("kubeconfig"));
  return kc;
}

export function clients(kc = kubeConfig()) {
  return { kc, core: kc.makeApiClient(CoreV1Api), custom: kc.makeApiClient(CustomObjectsApi) };
}

/** kubectl from the same Kubernetes build, against the suite's cluster. */
export function kubectl(args: string[], input?: string): Promise<string> {
  return runKubectl({ kubectl: inject("kubectl"), kubeconfig: inject("kubeconfig") }, args, input);
}

/** Creates a namespace unique to the calling test; `remove` deletes it without waiting. */
export async function testNamespace(prefix: string) {
  const { core } = clients();
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name, labels: { "flagwright.dev/test": "true" } } } });
  return {
    name,
    remove: async () => {
      await core.deleteNamespace({ name }).catch(() => {});
    },
  };
}
