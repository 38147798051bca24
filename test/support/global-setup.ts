// Starts one real control plane for the integration suite and stops it afterwards. Tests get its
// coordinates through vitest's inject() (see test/support/kube.ts).
import type { TestProject } from "vitest/node";
import { installCrds, startCluster } from "../cluster/cluster.js";

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfig: string;
    kubectl: string;
    binDir: string;
  }
}

export default async function setup(project: TestProject) {
  const cluster = await startCluster({ log: (line) => console.error(`[cluster] ${line}`) });
  try {
    await installCrds(cluster);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  project.provide("kubeconfig", cluster.kubeconfig);
  project.provide("kubectl", cluster.kubectl);
  project.provide("binDir", cluster.binDir);
  return async () => {
    await cluster.stop();
  };
}
