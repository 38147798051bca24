// Leader election's pure decision (src/operator/leader.ts) with an injected clock: a lease expires
// by the time this replica has watched it unchanged, never by the holder's renewTime, so a holder
// whose clock is minutes off is neither cut short nor kept alive after it stops renewing.
import { KubeConfig } from "@kubernetes/client-node";
import fc from "fast-check";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import {
  decideLease,
  LeaderElector,
  type LeaseObservation,
  type LeaseRecord,
  leaseValid,
  observeLease,
} from "../../../src/operator/leader.js";

const SELF = { identity: "standby", leaseDurationSeconds: 15 };
const WALL = "2026-12-02T20:00:00.000Z";
const iso = (ms: number) => new Date(ms).toISOString();
const held = (renewTime: string, extra: LeaseRecord = {}): LeaseRecord => ({
  holderIdentity: "leader",
  leaseDurationSeconds: 15,
  acquireTime: "2026-12-02T19:00:00.000Z",
  renewTime,
  leaseTransitions: 3,
  ...extra,
});

describe("observeLease", () => {
  it("keeps the first local time while the record is unchanged, and restarts it on any change", () => {
    const first = observeLease(undefined, held(WALL), 1_000);
    expect(first.observedAt).toBe(1_000);
    expect(observeLease(first, held(WALL), 9_000)).toBe(first);
    expect(observeLease(first, held("2026-12-02T20:00:02.000Z"), 9_000).observedAt).toBe(9_000);
    expect(observeLease(first, held(WALL, { holderIdentity: "other" }), 9_000).observedAt).toBe(9_000);
    expect(observeLease(first, held(WALL, { leaseTransitions: 4 }), 9_000).observedAt).toBe(9_000);
    expect(observeLease(first, held(WALL, { leaseDurationSeconds: 30 }), 9_000).observedAt).toBe(9_000);
  });
});

describe("decideLease", () => {
  it.each([
    ["five minutes in the past", "2026-12-02T19:55:00.000Z"],
    ["five minutes in the future", "2026-12-02T20:05:00.000Z"],
    ["a year in the past", "2025-12-02T20:00:00.000Z"],
  ])("waits for another holder's fresh lease whose renewTime is %s", (_, renewTime) => {
    const observed = observeLease(undefined, held(renewTime), 50_000);
    expect(decideLease(observed, SELF, 50_000, WALL)).toEqual({ action: "wait", holder: "leader" });
    expect(decideLease(observed, SELF, 64_999, WALL)).toEqual({ action: "wait", holder: "leader" });
  });

  it("takes a lease left unchanged for leaseDuration by the local clock, counting a transition", () => {
    // renewTime five minutes ahead: the old rule (renewTime + duration > now) would wait 5 more minutes.
    const observed = observeLease(undefined, held("2026-12-02T20:05:00.000Z"), 50_000);
    expect(leaseValid(observed, 65_000)).toBe(false);
    expect(decideLease(observed, SELF, 65_000, WALL)).toEqual({
      action: "write",
      acquiring: true,
      record: {
        holderIdentity: "standby",
        leaseDurationSeconds: 15,
        acquireTime: WALL,
        renewTime: WALL,
        leaseTransitions: 4,
      },
    });
  });

  it("takes a released lease (no holder) at once", () => {
    const released = observeLease(
      undefined,
      { leaseDurationSeconds: 1, renewTime: WALL, leaseTransitions: 3 },
      0,
    );
    expect(decideLease(released, SELF, 0, WALL)).toMatchObject({
      action: "write",
      acquiring: true,
      record: { holderIdentity: "standby", leaseTransitions: 4 },
    });
  });

  it("renews its own lease keeping acquireTime and the transition count", () => {
    const own = observeLease(undefined, held("2026-12-02T19:55:00.000Z", { holderIdentity: "standby" }), 0);
    expect(decideLease(own, SELF, 1_000, WALL)).toEqual({
      action: "write",
      acquiring: false,
      record: {
        holderIdentity: "standby",
        leaseDurationSeconds: 15,
        acquireTime: "2026-12-02T19:00:00.000Z",
        renewTime: WALL,
        leaseTransitions: 3,
      },
    });
  });

  it("a standby never takes over from a holder that keeps renewing, whatever its clock says", () => {
    // The holder writes every `renewEvery` ms of its own time, stamping renewTime with a clock
    // `skew` ms off; the standby reads every `retry` ms starting at `phase`. Then the holder
    // stops: the standby takes over between leaseDuration and leaseDuration + retry after the
    // last write it saw.
    fc.assert(
      fc.property(
        fc.integer({ min: -600_000, max: 600_000 }),
        fc.integer({ min: 500, max: 5_000 }),
        fc.integer({ min: 500, max: 5_000 }),
        fc.integer({ min: 0, max: 5_000 }),
        (skew, renewEvery, retry, phase) => {
          const base = Date.parse(WALL);
          const lastWrite = 120_000 - (120_000 % renewEvery);
          const recordAt = (t: number) => held(iso(base + skew + Math.min(t - (t % renewEvery), lastWrite)));
          let observation: LeaseObservation | undefined;
          let seenLastAt: number | undefined;
          for (let t = phase; t < 200_000; t += retry) {
            observation = observeLease(observation, recordAt(t), t);
            if (t >= lastWrite) seenLastAt ??= t;
            const decision = decideLease(observation, SELF, t, WALL);
            if (decision.action === "write") {
              // Only after the holder stopped, and only once the lease ran out on the local clock.
              expect(t).toBeGreaterThanOrEqual((seenLastAt ?? Number.POSITIVE_INFINITY) + 15_000);
              expect(t).toBeLessThan((seenLastAt ?? 0) + 15_000 + retry);
              return;
            }
          }
          throw new Error("the standby never took over after the holder stopped");
        },
      ),
      { seed: 17, numRuns: 300 },
    );
  });
});

describe("LeaderElector settings", () => {
  const make = (leaseDurationMs: number, renewDeadlineMs: number, retryPeriodMs: number) => () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: "https://127.0.0.1:1", skipTLSVerify: true }],
      users: [{ name: "u" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    return new LeaderElector({
      kc,
      namespace: "ns",
      name: "lease",
      identity: "me",
      log: pino({ level: "silent" }),
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
      onStartedLeading: () => {},
      onStoppedLeading: () => {},
    });
  };

  it("refuses timings under which a leader could work on after a standby took over", () => {
    expect(make(15_000, 10_000, 2_000)).not.toThrow();
    expect(make(10_000, 10_000, 2_000)).toThrow(
      "--leader-election-renew-deadline must be shorter than --leader-election-lease-duration",
    );
    expect(make(15_000, 2_000, 2_000)).toThrow(
      "--leader-election-retry-period (x1.2) must be shorter than --leader-election-renew-deadline",
    );
    expect(make(500, 300, 100)).toThrow("--leader-election-lease-duration must be at least 1s");
  });
});
