// What the operator needs from RBAC, checked at start-up with SelfSubjectAccessReviews so a
// missing rule is named at once instead of surfacing later as a stuck rollout. deploy/rbac.yaml
// and the Helm chart grant exactly these (a test holds them equal).
import type { KubeConfig } from "@kubernetes/client-node";
import { AuthorizationV1Api } from "../kube/client.js";

export interface Permission {
  group: string;
  resource: string;
  subresource?: string;
  verbs: string[];
  /** Where it is needed: "watched" (the watched namespaces or cluster-wide) or "leader-election". */
  scope: "watched" | "leader-election";
  /** Needed on the projected ConfigMap only (RBAC resourceNames): the check names it. */
  onlyConfigMap?: true;
}

export const REQUIRED_PERMISSIONS: Permission[] = [
  { group: "flagwright.dev", resource: "featureflags", verbs: ["get", "list", "watch"], scope: "watched" },
  { group: "flagwright.dev", resource: "segments", verbs: ["get", "list", "watch"], scope: "watched" },
  {
    group: "flagwright.dev",
    resource: "featureflags",
    subresource: "status",
    verbs: ["patch"],
    scope: "watched",
  },
  // List and watch carry the field selector metadata.name=<name>, which RBAC authorizes by name;
  // creation is by server-side apply, whose create check names the object too.
  {
    group: "",
    resource: "configmaps",
    verbs: ["get", "list", "watch", "create", "patch", "delete"],
    scope: "watched",
    onlyConfigMap: true,
  },
  { group: "", resource: "events", verbs: ["create"], scope: "watched" },
  {
    group: "coordination.k8s.io",
    resource: "leases",
    verbs: ["get", "create", "update"],
    scope: "leader-election",
  },
];

/** Returns "verb group/resource[/sub] in namespace" for every permission the identity lacks. */
export async function missingPermissions(
  kc: KubeConfig,
  {
    namespaces,
    leaderElectionNamespace,
    configMapName,
  }: { namespaces: string[]; leaderElectionNamespace?: string; configMapName: string },
): Promise<string[]> {
  const api = kc.makeApiClient(AuthorizationV1Api);
  const checks: Promise<string | undefined>[] = [];
  for (const permission of REQUIRED_PERMISSIONS) {
    const scopes =
      permission.scope === "leader-election"
        ? leaderElectionNamespace
          ? [leaderElectionNamespace]
          : []
        : namespaces.length
          ? namespaces
          : [""];
    for (const namespace of scopes) {
      for (const verb of permission.verbs) {
        checks.push(
          api
            .createSelfSubjectAccessReview({
              body: {
                spec: {
                  resourceAttributes: {
                    group: permission.group,
                    resource: permission.resource,
                    subresource: permission.subresource,
                    verb,
                    namespace: namespace || undefined,
                    name: permission.onlyConfigMap ? configMapName : undefined,
                  },
                },
              },
            })
            .then((review) => {
              if (review.status?.allowed) return undefined;
              const what = `${permission.group || "core"}/${permission.resource}${permission.subresource ? `/${permission.subresource}` : ""}${permission.onlyConfigMap ? ` ${configMapName}` : ""}`;
              return `${verb} ${what} ${namespace ? `in namespace ${namespace}` : "cluster-wide"}`;
            }),
        );
      }
    }
  }
  return (await Promise.all(checks)).filter((m): m is string => m !== undefined);
}

export class PermissionError extends Error {
  constructor(readonly missing: string[]) {
    super(`missing RBAC permissions (see deploy/rbac.yaml): ${missing.join("; ")}`);
    this.name = "PermissionError";
  }
}

/** The start-up check as the first runnable: nothing serves or watches without the permissions. */
export function permissionCheck(kc: KubeConfig, scope: Parameters<typeof missingPermissions>[1]) {
  return {
    name: "permissions",
    needsLeadership: false,
    start: async () => {
      const missing = await missingPermissions(kc, scope);
      if (missing.length > 0) throw new PermissionError(missing);
    },
    stop: async () => {},
  };
}
