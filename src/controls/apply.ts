// The one implementation of a manual control against the cluster, shared by `kubectl flagwright
// kill|pause|...` and the dashboard: read the flag, plan the transition (transitions.ts), send the
// JSON merge patch of status.controls through the status subresource with a resourceVersion
// precondition, and on a conflict re-read, re-plan and retry.
import type { CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { type FeatureFlag, GROUP, PLURAL, VERSION } from "../api/index.js";
import { STATUS_WRITERS } from "../api/ownership.js";
import { ApiException, AuthenticationV1Api, PatchStrategy, setHeaderOptions } from "../kube/client.js";
import { getFeatureFlag, listFeatureFlags } from "../kube/featureflags.js";
import { type ControlCommand, type ControlPlan, planControl } from "./transitions.js";

const MAX_ATTEMPTS = 5;

/** A request the API server refused or could not serve, with what was asked (for RBAC messages). */
export class ControlApiError extends Error {
  override name = "ControlApiError";
  constructor(
    message: string,
    readonly code: number | undefined,
    /** The refused request, e.g. { verb: "patch", resource: "featureflags/status" }. */
    readonly request: { verb: string; resource: string; namespace: string; name?: string },
  ) {
    super(message);
  }
}

/**
 * Who the API server says we are (SelfSubjectReview), recorded as `by` in controls: a kubeconfig
 * entry's name is whatever its author typed, so it cannot attribute a kill switch. Falls back to
 * that name, marked unverified, only where the review is unavailable (API servers before 1.28).
 */
export async function authenticatedUser(kc: KubeConfig): Promise<string> {
  try {
    const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    });
    const username = review.status?.userInfo?.username;
    if (username) return username;
  } catch (error) {
    if (!(error instanceof ApiException) || (error.code !== 404 && error.code !== 403)) throw error;
  }
  return `${kc.getCurrentUser()?.name ?? "unknown"} (kubeconfig user, unverified)`;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}

/** "API server answered 403: <its message>" for an ApiException, else the error's message. */
export function apiMessage(error: unknown): string {
  if (error instanceof ApiException) {
    const body = typeof error.body === "string" ? safeJson(error.body) : error.body;
    const message = (body as { message?: string } | undefined)?.message;
    return `API server answered ${error.code}${message ? `: ${message}` : ""}`;
  }
  return (error as Error).message;
}

/** A flag by object name or, failing that, by its key (unique in the namespace). */
export async function findFlag(api: CustomObjectsApi, namespace: string, name: string): Promise<FeatureFlag> {
  try {
    return await getFeatureFlag(api, namespace, name);
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) {
      const list = await listFeatureFlags(api, namespace);
      const byKey = list.items.filter((f) => f.spec?.key === name);
      if (byKey.length === 1 && byKey[0]) return byKey[0];
      throw new ControlApiError(`featureflag "${name}" not found in namespace "${namespace}"`, 404, {
        verb: "get",
        resource: "featureflags",
        namespace,
        name,
      });
    }
    throw new ControlApiError(
      `cannot read featureflag "${name}": ${apiMessage(error)}`,
      error instanceof ApiException ? error.code : undefined,
      { verb: "get", resource: "featureflags", namespace, name },
    );
  }
}

export interface ControlOptions {
  command: ControlCommand;
  /** Object name or key. */
  flag: string;
  namespace: string;
  by: string;
  now?: () => Date;
  reason?: string;
  full?: boolean;
  /** Test seam: runs after the flag is read and before the patch is sent (attempt is 1-based). */
  beforeWrite?: (attempt: number) => Promise<void>;
}

/**
 * Applies one control; resolves with the flag's object name and the plan that was written.
 * Throws TransitionError when the flag's state does not allow it, ControlApiError when the API
 * server refuses (403 carries the verb and resource that were refused).
 */
export async function applyControl(
  api: CustomObjectsApi,
  options: ControlOptions,
): Promise<{ name: string; plan: ControlPlan }> {
  const { command, namespace } = options;
  for (let attempt = 1; ; attempt++) {
    const flag = await findFlag(api, namespace, options.flag);
    // Re-planned on every attempt: a conflicting writer may have made the transition invalid.
    const plan = planControl(flag, {
      command,
      by: options.by,
      now: (options.now ?? (() => new Date()))(),
      ...(options.reason !== undefined && { reason: options.reason }),
      ...(options.full !== undefined && { full: options.full }),
    });
    const name = flag.metadata.name ?? options.flag;
    await options.beforeWrite?.(attempt);
    try {
      await api.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          namespace,
          plural: PLURAL,
          name,
          fieldManager: STATUS_WRITERS.controls.fieldManager,
          // resourceVersion in a merge patch is a precondition: 409 if the flag changed since we read it.
          body: {
            metadata: { resourceVersion: flag.metadata.resourceVersion },
            status: { controls: plan.controls },
          },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    } catch (error) {
      if (error instanceof ApiException && error.code === 409 && attempt < MAX_ATTEMPTS) continue;
      const request = { verb: "patch", resource: "featureflags/status", namespace, name };
      if (error instanceof ApiException && error.code === 404) {
        throw new ControlApiError(
          `featureflag "${name}" not found in namespace "${namespace}"`,
          404,
          request,
        );
      }
      throw new ControlApiError(
        `cannot ${command} flag ${name}: ${apiMessage(error)}`,
        error instanceof ApiException ? error.code : undefined,
        request,
      );
    }
    return { name, plan };
  }
}
