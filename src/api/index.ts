// The API package's surface: the FeatureFlag and Segment resource types, the group, version and
// kinds, and the schema, validation and condition helpers the rest of the project imports.
import type { V1ObjectMeta } from "@kubernetes/client-node";
import type { FeatureFlagSpec, FeatureFlagStatus, SegmentSpec } from "./types.generated.js";

export {
  API_VERSION,
  COHORT_TALLY_SUMS,
  GROUP,
  KIND,
  PLURAL,
  SEGMENT_KIND,
  SEGMENT_PLURAL,
  VERSION,
} from "./schema.js";
export type { FeatureFlagSpec, FeatureFlagStatus, SegmentSpec } from "./types.generated.js";

export interface FeatureFlag {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta;
  spec: FeatureFlagSpec;
  status?: FeatureFlagStatus;
}

/** A reusable audience that rules name in spec.rules[].segments (same namespace). */
export interface Segment {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta;
  spec: SegmentSpec;
}

export type Phase = NonNullable<FeatureFlagStatus["phase"]>;
export type Condition = NonNullable<FeatureFlagStatus["conditions"]>[number];

/** The key applications evaluate: spec.key, or the object's name. */
export function flagKey(flag: Pick<FeatureFlag, "metadata" | "spec">): string {
  return flag.spec.key ?? flag.metadata.name ?? "";
}

/** Label carried by every object the operator generates. */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY_VALUE = "flagwright";
