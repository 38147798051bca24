// Every version an object had in etcd, read back through the API server (a list at each exact
// revision), for assertions about what was written, not what a watch across outages happened to
// deliver: a step written and overwritten while the API server was down still shows up here.
import type { V1ConfigMap } from "@kubernetes/client-node";
import { type FeatureFlag, GROUP, PLURAL, VERSION } from "../../../src/api/index.js";
import { type FlagDocument, parseDocument } from "../../../src/core/index.js";
import type { PrivateControlPlane } from "./control-plane.js";
import { keyRevisions } from "./etcd.js";

export async function configMapHistory(
  plane: PrivateControlPlane,
  namespace: string,
  name = "flagwright-flags",
): Promise<{ revision: number; doc: FlagDocument }[]> {
  const revisions = await keyRevisions(plane.etcd, `/registry/configmaps/${namespace}/${name}`);
  const out: { revision: number; doc: FlagDocument }[] = [];
  for (const revision of revisions) {
    const list = await plane.core.listNamespacedConfigMap({
      namespace,
      fieldSelector: `metadata.name=${name}`,
      resourceVersion: String(revision),
      resourceVersionMatch: "Exact",
    });
    const cm = list.items[0] as V1ConfigMap | undefined;
    const text = cm?.data?.["flags.json"];
    if (text) out.push({ revision, doc: parseDocument(text) });
  }
  return out;
}

export async function flagHistory(
  plane: PrivateControlPlane,
  namespace: string,
  name: string,
): Promise<{ revision: number; flag: FeatureFlag }[]> {
  const revisions = await keyRevisions(plane.etcd, `/registry/${GROUP}/${PLURAL}/${namespace}/${name}`);
  const out: { revision: number; flag: FeatureFlag }[] = [];
  for (const revision of revisions) {
    const list = (await plane.custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL,
      fieldSelector: `metadata.name=${name}`,
      resourceVersion: String(revision),
      resourceVersionMatch: "Exact",
    })) as { items: FeatureFlag[] };
    const flag = list.items[0];
    if (flag) out.push({ revision, flag });
  }
  return out;
}

/** Successive values of `pick`, repeats collapsed. */
export function trail<T, V>(items: T[], pick: (item: T) => V | undefined): V[] {
  const out: V[] = [];
  for (const item of items) {
    const value = pick(item);
    if (value !== undefined && (out.length === 0 || out[out.length - 1] !== value)) out.push(value);
  }
  return out;
}
