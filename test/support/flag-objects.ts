// FeatureFlag helpers for fault tests, against any control plane's CustomObjectsApi.
import type { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { type FeatureFlag, type FeatureFlagSpec, GROUP, PLURAL, VERSION } from "../../src/api/index.js";
import { type FlagDocument, parseDocument } from "../../src/core/index.js";
import { getFeatureFlag, listFeatureFlags } from "../../src/kube/featureflags.js";

type Canary = NonNullable<NonNullable<FeatureFlagSpec["rollout"]>["canary"]>;

/** A canary ramping to 100 % through `percents`, holding each step for `pause`. */
export function canarySpec(
  percents: number[],
  pause: string,
  analysis?: Canary["analysis"],
): FeatureFlagSpec {
  return {
    enabled: true,
    rollout: {
      percent: 100,
      canary: { steps: percents.map((percent) => ({ percent, pause })), ...(analysis && { analysis }) },
    },
  };
}

export async function createFlag(
  custom: CustomObjectsApi,
  namespace: string,
  name: string,
  spec: FeatureFlagSpec,
): Promise<void> {
  await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: "FeatureFlag", metadata: { name }, spec },
  });
}

export async function getFlag(
  custom: CustomObjectsApi,
  namespace: string,
  name: string,
): Promise<FeatureFlag> {
  return getFeatureFlag(custom, namespace, name);
}

export async function listFlags(custom: CustomObjectsApi, namespace: string): Promise<FeatureFlag[]> {
  return (await listFeatureFlags(custom, namespace)).items;
}

/** The namespace's projected document, or undefined when there is none (yet). */
export async function projectedDocument(
  core: CoreV1Api,
  namespace: string,
  name = "flagwright-flags",
): Promise<FlagDocument | undefined> {
  const cm = await core.readNamespacedConfigMap({ name, namespace }).catch(() => undefined);
  const text = cm?.data?.["flags.json"];
  return text ? parseDocument(text) : undefined;
}

/** Percent per flag key in a document. */
export const percents = (doc: FlagDocument | undefined) =>
  Object.fromEntries(Object.entries(doc?.flags ?? {}).map(([key, flag]) => [key, flag.percent]));
