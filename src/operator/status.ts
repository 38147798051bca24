// Writes part of a FeatureFlag's status with server-side apply on the status subresource: the one
// way the operator's components (reconciler, analysis, alerts, experiment loop) write status, each
// under its own field manager so each owns only the fields it sends.
import type { CustomObjectsApi } from "@kubernetes/client-node";
import { API_VERSION, type FeatureFlag, GROUP, KIND, PLURAL, VERSION } from "../api/index.js";
import { STATUS_WRITERS } from "../api/ownership.js";
import { PatchStrategy, setHeaderOptions } from "../kube/client.js";
import type { AnalysisOutcome } from "../rollout/steps.js";
import { encodeOutcome, type OutcomeField } from "./recorded-outcome.js";

/** Request options that send a patch as server-side apply. */
export const SERVER_SIDE_APPLY = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);

export async function applyStatus(
  custom: CustomObjectsApi,
  flag: Pick<FeatureFlag, "metadata">,
  status: Record<string, unknown>,
  { fieldManager, ifResourceVersion }: { fieldManager: string; ifResourceVersion?: string },
): Promise<unknown> {
  const metadata: Record<string, unknown> = { name: flag.metadata.name, namespace: flag.metadata.namespace };
  // With a resourceVersion the write is conditional: a decision made from a stale copy fails
  // with 409 and is made again from fresh data.
  if (ifResourceVersion) metadata.resourceVersion = ifResourceVersion;
  return await custom.patchNamespacedCustomObjectStatus(
    {
      group: GROUP,
      version: VERSION,
      namespace: flag.metadata.namespace ?? "",
      plural: PLURAL,
      name: flag.metadata.name ?? "",
      body: { apiVersion: API_VERSION, kind: KIND, metadata, status },
      fieldManager,
      force: true,
    },
    SERVER_SIDE_APPLY,
  );
}

const OUTCOME_WRITERS: Record<OutcomeField, string> = {
  analysisOutcome: STATUS_WRITERS.analysis.fieldManager,
  pushedAlert: STATUS_WRITERS.alerts.fieldManager,
};

/** Records an analysis outcome in status, under the field manager of the writer that owns `field`. */
export async function applyOutcome(
  custom: CustomObjectsApi,
  flag: Pick<FeatureFlag, "metadata">,
  field: OutcomeField,
  outcome: AnalysisOutcome,
): Promise<void> {
  await applyStatus(custom, flag, encodeOutcome(field, outcome), { fieldManager: OUTCOME_WRITERS[field] });
}
