import type { CustomObjectsApi } from "@kubernetes/client-node";
import { type FeatureFlag, GROUP, PLURAL, SEGMENT_PLURAL, type Segment, VERSION } from "../api/index.js";

/** FeatureFlags in one namespace, or in all when namespace is undefined, with the list's resourceVersion. */
export async function listFeatureFlags(
  api: CustomObjectsApi,
  namespace?: string,
): Promise<{ items: FeatureFlag[]; resourceVersion: string }> {
  const list = namespace
    ? await api.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL })
    : await api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL });
  return { items: list.items as FeatureFlag[], resourceVersion: list.metadata?.resourceVersion ?? "" };
}

/** One FeatureFlag by object name (the API's 404 passes through as an ApiException). */
export async function getFeatureFlag(
  api: CustomObjectsApi,
  namespace: string,
  name: string,
): Promise<FeatureFlag> {
  return (await api.getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    name,
  })) as FeatureFlag;
}

/** Segments in one namespace, or in all when namespace is undefined, with the list's resourceVersion. */
export async function listSegments(
  api: CustomObjectsApi,
  namespace?: string,
): Promise<{ items: Segment[]; resourceVersion: string }> {
  const plural = SEGMENT_PLURAL;
  const list = namespace
    ? await api.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural })
    : await api.listClusterCustomObject({ group: GROUP, version: VERSION, plural });
  return { items: list.items as Segment[], resourceVersion: list.metadata?.resourceVersion ?? "" };
}
