// Stale flag detection (flag debt): pure, with the clock passed in. A flag is stale when its
// effective state has been constant (fully on with one value, or off) for spec.staleAfter
// (default 90d) since status.effectiveSince, or when spec.expires has passed.
import { parseDuration } from "../api/duration.js";
import type { FeatureFlag } from "../api/index.js";

export const CONDITION_STALE = "Stale";
const DEFAULT_STALE_AFTER = "90d";

export type StaleReason = "Expired" | "FullyOn" | "Off";

export interface Staleness {
  stale: boolean;
  /** Condition reason: Expired, FullyOn, Off when stale; Active or InProgress when not. */
  reason: StaleReason | "Active" | "InProgress" | "Varies";
  message: string;
  /** How long the state has been constant (or since expiry), in ms; 0 when not stale. */
  ageMs: number;
}

/** The constant state a flag serves, or undefined when users get different answers. */
export function constantState(flag: FeatureFlag): "on" | "off" | undefined {
  const { spec, status } = flag;
  const killed = status?.controls?.killed != null;
  if (!spec.enabled || killed || status?.phase === "Disabled" || status?.phase === "RolledBack") return "off";
  const percent = status?.currentPercent ?? spec.rollout?.percent ?? 100;
  if (percent <= 0) return "off";
  if (percent < 100) return undefined;
  // Fully on: one value for everyone unless variants split users.
  const variants = spec.variants ?? [];
  if (variants.length > 0 && !variants.some((v) => v.weight === 100)) return undefined;
  return "on";
}

/** Human-readable duration in the largest sensible unit: 3d 4h, 5h 2m, 45s. */
export function formatAge(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h > 0 ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

export function staleness(flag: FeatureFlag, now: Date): Staleness {
  const { spec, status } = flag;
  const t = now.getTime();
  if (spec.expires !== undefined) {
    const expires = Date.parse(spec.expires);
    if (!Number.isNaN(expires) && t >= expires) {
      const ageMs = t - expires;
      return {
        stale: true,
        reason: "Expired",
        message: `expired ${formatAge(ageMs)} ago (spec.expires ${spec.expires}): remove the flag and its code`,
        ageMs,
      };
    }
  }
  const state = constantState(flag);
  if (state === undefined) {
    return {
      stale: false,
      reason: status?.phase === "Progressing" || status?.phase === "Paused" ? "InProgress" : "Varies",
      message: "users get different answers (partial rollout or variants)",
      ageMs: 0,
    };
  }
  const staleAfter = spec.staleAfter ?? DEFAULT_STALE_AFTER;
  let limit: number;
  try {
    limit = parseDuration(staleAfter);
  } catch {
    limit = parseDuration(DEFAULT_STALE_AFTER);
  }
  const sinceText = status?.effectiveSince ?? flag.metadata.creationTimestamp;
  const since = sinceText === undefined ? Number.NaN : Date.parse(String(sinceText));
  const constantFor = Number.isNaN(since) ? 0 : Math.max(0, t - since);
  const what = state === "on" ? "fully on" : "off";
  if (constantFor >= limit) {
    return {
      stale: true,
      reason: state === "on" ? "FullyOn" : "Off",
      message: `${what} and unchanged for ${formatAge(constantFor)} (staleAfter ${staleAfter}): ${
        state === "on" ? "ship it: remove the flag and keep the on path" : "remove the flag and its dead code"
      }`,
      ageMs: constantFor,
    };
  }
  return {
    stale: false,
    reason: "Active",
    message: `${what} for ${formatAge(constantFor)}; stale after ${staleAfter}`,
    ageMs: 0,
  };
}

/**
 * A flag's debt as people should see it: the operator's Stale condition when it has written one
 * (it is the authority), otherwise the same rules computed here; the age is always computed.
 */
export function debtOf(
  flag: FeatureFlag,
  now: Date,
): { stale: boolean; reason: string; message: string; ageMs: number } {
  const condition = flag.status?.conditions?.find((c) => c.type === CONDITION_STALE);
  const s = staleness(flag, now);
  return {
    stale: condition ? condition.status === "True" : s.stale,
    reason: condition?.reason ?? s.reason,
    message: condition?.message ?? s.message,
    ageMs: s.stale ? s.ageMs : 0,
  };
}
