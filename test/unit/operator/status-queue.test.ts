// The queue of planned status writes (reconciler.ts): one small entry per flag, however often the
// flag is planned while its write waits; what it keeps is what the write and its Events need.
import { describe, expect, it } from "vitest";
import type { FeatureFlag, FeatureFlagStatus } from "../../../src/api/index.js";
import { enqueueStatus, type PendingStatus } from "../../../src/operator/reconciler.js";

function flag(name: string, resourceVersion: string, status?: FeatureFlagStatus): FeatureFlag {
  return {
    apiVersion: "flagwright.dev/v1alpha1",
    kind: "FeatureFlag",
    metadata: { name, namespace: "team", uid: `uid-${name}`, resourceVersion, generation: 1 },
    spec: { enabled: true, rollout: { percent: 25 }, allowedUsers: ["qa-1", "qa-2"] },
    ...(status && { status }),
  };
}

const event = (f: FeatureFlag, reason: string) => ({
  type: "Normal" as const,
  reason,
  message: `${reason} of ${f.metadata.name}`,
  flag: f,
  key: f.metadata.name ?? "",
});

describe("enqueueStatus", () => {
  it("queues one entry per flag: a later plan replaces the status and base version, in place, and keeps the Events", () => {
    const pending = new Map<string, PendingStatus>();
    const a1 = flag("a", "10", { phase: "Pending" });
    enqueueStatus(pending, { flag: a1, status: { phase: "Progressing", currentPercent: 5 } }, [
      event(a1, "RolloutStarted"),
    ]);
    enqueueStatus(pending, { flag: flag("b", "11"), status: { phase: "Completed" } }, []);
    const a2 = flag("a", "12", { phase: "Progressing" });
    const entry = enqueueStatus(pending, { flag: a2, status: { phase: "Progressing", currentPercent: 25 } }, [
      event(a2, "RolloutAdvanced"),
    ]);

    expect([...pending.keys()]).toEqual(["team/a", "team/b"]);
    expect(pending.get("team/a")).toBe(entry);
    expect(entry).toMatchObject({
      namespace: "team",
      name: "a",
      baseVersion: "12",
      status: { phase: "Progressing", currentPercent: 25 },
      // The phase before the first queued write: the log line says where the flag came from.
      fromPhase: "Pending",
    });
    expect(entry.events.map((e) => e.reason)).toEqual(["RolloutStarted", "RolloutAdvanced"]);
  });

  it("keeps no flag object: Events name their flag by coordinates only, not its spec or status", () => {
    const pending = new Map<string, PendingStatus>();
    const f = flag("a", "10", { phase: "Pending", conditions: [] });
    const entry = enqueueStatus(pending, { flag: f, status: { phase: "Completed" } }, [event(f, "Killed")]);
    expect(entry.events[0]?.flag).toEqual({
      apiVersion: "flagwright.dev/v1alpha1",
      kind: "FeatureFlag",
      metadata: { name: "a", namespace: "team", uid: "uid-a", resourceVersion: "10" },
    });
    expect(JSON.stringify(entry)).not.toContain("allowedUsers");
  });

  it("after a flag's write was taken from the queue, a new plan queues a new entry", () => {
    const pending = new Map<string, PendingStatus>();
    const first = enqueueStatus(pending, { flag: flag("a", "10"), status: { phase: "Completed" } }, []);
    pending.delete("team/a"); // a writer took it
    const second = enqueueStatus(
      pending,
      { flag: flag("a", "10", { phase: "Completed" }), status: { phase: "Disabled" } },
      [],
    );
    expect(second).not.toBe(first);
    expect(first.status).toEqual({ phase: "Completed" });
    expect(second).toMatchObject({ status: { phase: "Disabled" }, fromPhase: "Completed" });
  });
});
