// Kubeconfigs for users the suite's admin impersonates (`as:` in the kubeconfig user, honoured by
// kubectl, the plugin and the dashboard): how tests act as a person bound to a role.
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kubeConfig } from "./kube.js";

/**
 * Writes a kubeconfig (mode 0600) acting as `user` and returns its path. `entryName` names the
 * kubeconfig user entry (it may differ from `user` on purpose); `namespace` is the context's.
 */
export function impersonatingKubeconfig(
  user: string,
  { entryName = `entry-${user}`, namespace }: { entryName?: string; namespace?: string } = {},
): string {
  const admin = kubeConfig();
  const adminUser = admin.getCurrentUser();
  if (!adminUser) throw new Error("the suite's kubeconfig has no current user");
  const kc = kubeConfig();
  kc.loadFromOptions({
    clusters: admin.clusters,
    users: [{ ...adminUser, name: entryName, impersonateUser: user }],
    contexts: [
      {
        name: entryName,
        cluster: admin.getCurrentCluster()?.name ?? "",
        user: entryName,
        ...(namespace !== undefined && { namespace }),
      },
    ],
    currentContext: entryName,
  });
  const path = join(tmpdir(), `flagwright-${user}.kubeconfig`);
  writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
  return path;
}
