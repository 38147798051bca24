import { describe, expect, it } from "vitest";
import type { FeatureFlag } from "../../../src/api/index.js";
import { constantState, staleness } from "../../../src/hygiene/stale.js";

const DAY = 86_400_000;
const since = new Date("2026-01-01T00:00:00Z");
/** The injected clock: `days` after the flag's state last changed. */
const clock = (days: number) => new Date(since.getTime() + days * DAY);

function flag(spec: Partial<FeatureFlag["spec"]>, status: FeatureFlag["status"] = {}): FeatureFlag {
  return {
    apiVersion: "flagwright.dev/v1alpha1",
    kind: "FeatureFlag",
    metadata: { name: "f", namespace: "ns", creationTimestamp: new Date("2025-06-01T00:00:00Z") },
    spec: { enabled: true, ...spec },
    status: { phase: "Completed", currentPercent: 100, effectiveSince: since.toISOString(), ...status },
  };
}

describe("stale detection", () => {
  it("a flag fully on becomes stale after the default 90 days, not before", () => {
    const f = flag({ rollout: { percent: 100 } });
    expect(staleness(f, clock(89.99)).stale).toBe(false);
    const s = staleness(f, clock(90));
    expect(s).toMatchObject({ stale: true, reason: "FullyOn" });
    expect(s.message).toContain("unchanged for 90d");
    expect(staleness(f, clock(120)).ageMs).toBe(120 * DAY);
  });

  it("honours spec.staleAfter", () => {
    const f = flag({ staleAfter: "2h" });
    expect(staleness(f, new Date(since.getTime() + 2 * 3_600_000 - 1)).stale).toBe(false);
    expect(staleness(f, new Date(since.getTime() + 2 * 3_600_000)).stale).toBe(true);
  });

  it("off flags (disabled, 0 %, killed, rolled back) are stale too, with reason Off", () => {
    for (const f of [
      flag({ enabled: false }, { phase: "Disabled", currentPercent: 0, effectiveSince: since.toISOString() }),
      flag({ rollout: { percent: 0 } }, { currentPercent: 0, effectiveSince: since.toISOString() }),
      flag({}, { controls: { killed: { at: since.toISOString() } }, effectiveSince: since.toISOString() }),
      flag({}, { phase: "RolledBack", currentPercent: 0, effectiveSince: since.toISOString() }),
    ]) {
      expect(constantState(f)).toBe("off");
      expect(staleness(f, clock(91))).toMatchObject({ stale: true, reason: "Off" });
    }
  });

  it("partial rollouts and variant splits are never stale by age", () => {
    const partial = flag({ rollout: { percent: 50 } }, { currentPercent: 50 });
    expect(staleness(partial, clock(400))).toMatchObject({ stale: false });
    const split = flag({
      variants: [
        { name: "a", weight: 50 },
        { name: "b", weight: 50 },
      ],
    });
    expect(staleness(split, clock(400)).stale).toBe(false);
    const single = flag({
      variants: [
        { name: "a", weight: 100 },
        { name: "b", weight: 0 },
      ],
    });
    expect(staleness(single, clock(400)).stale).toBe(true);
  });

  it("a passed spec.expires makes any flag stale, with how long ago", () => {
    const f = flag({ rollout: { percent: 50 }, expires: "2026-03-01T00:00:00Z" }, { currentPercent: 50 });
    expect(staleness(f, new Date("2026-02-28T23:59:59Z")).stale).toBe(false);
    const s = staleness(f, new Date("2026-03-04T06:00:00Z"));
    expect(s).toMatchObject({ stale: true, reason: "Expired", ageMs: 3.25 * DAY });
    expect(s.message).toContain("expired 3d 6h ago");
  });

  it("falls back to creationTimestamp before the operator has set effectiveSince", () => {
    const f = flag({}, { phase: "Completed", currentPercent: 100 });
    delete f.status?.effectiveSince;
    expect(staleness(f, new Date("2025-08-30T00:00:00Z")).stale).toBe(true);
    expect(staleness(f, new Date("2025-08-29T00:00:00Z")).stale).toBe(false);
  });
});
