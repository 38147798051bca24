// Reads FeatureFlags and Segments from the API server: the one FeatureFlag lister (paged) that the
// operator's cache, the dashboard and the CLI share, and a read by name.
import type { CustomObjectsApi } from "@kubernetes/client-node";
import { type FeatureFlag, GROUP, PLURAL, SEGMENT_PLURAL, type Segment, VERSION } from "../api/index.js";

/** Flags listed per page: a relist of 10,000 never holds them all untransformed at once. */
export const FLAG_LIST_PAGE = 500;

type FlagPage = { items: FeatureFlag[]; metadata?: { resourceVersion?: string; continue?: string } };

/**
 * FeatureFlags in one namespace, or in all when namespace is undefined, with the list's
 * resourceVersion. Read page by page; `keep` trims each flag as its page arrives (the operator's
 * cache keeps only what it reads), so the untrimmed objects of only one page are held at a time.
 */
export async function listFeatureFlags(
  api: CustomObjectsApi,
  namespace?: string,
  keep: (flag: FeatureFlag) => FeatureFlag = (flag) => flag,
): Promise<{ items: FeatureFlag[]; resourceVersion: string }> {
  const items: FeatureFlag[] = [];
  let resourceVersion = "";
  let next: string | undefined;
  do {
    const common = { group: GROUP, version: VERSION, plural: PLURAL, limit: FLAG_LIST_PAGE, _continue: next };
    const page = (
      namespace
        ? await api.listNamespacedCustomObject({ ...common, namespace })
        : await api.listClusterCustomObject(common)
    ) as FlagPage;
    for (const flag of page.items) items.push(keep(flag));
    resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    next = page.metadata?.continue || undefined;
  } while (next);
  return { items, resourceVersion };
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
