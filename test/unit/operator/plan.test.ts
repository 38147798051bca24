// The reconcile plan without a control plane: state in (flags, the projected ConfigMap's
// revision), writes out. Each case also applies the plan as the API server would (each writer's
// part merged) and plans again, which must ask for nothing more: a restart with everything
// projected writes nothing.
import { describe, expect, it } from "vitest";
import type { FeatureFlag, FeatureFlagSpec, FeatureFlagStatus, Segment } from "../../../src/api/index.js";
import { STATUS_WRITERS } from "../../../src/api/ownership.js";
import { DOCUMENT_KEY, parseDocument } from "../../../src/core/index.js";
import {
  MAX_DOCUMENT_BYTES,
  type NamespacePlan,
  type NamespaceState,
  pendingOutcomes,
  plan,
} from "../../../src/operator/plan.js";

const NOW = new Date("2026-12-01T12:00:00.000Z");
const later = (s: number) => new Date(NOW.getTime() + s * 1000);
const CM = "flagwright-flags";

function flag(
  name: string,
  spec: FeatureFlagSpec,
  status?: FeatureFlagStatus,
  meta: { generation?: number; created?: number } = {},
): FeatureFlag {
  return {
    apiVersion: "flagwright.dev/v1alpha1",
    kind: "FeatureFlag",
    metadata: {
      name,
      namespace: "team",
      uid: `uid-${name}`,
      generation: meta.generation ?? 1,
      resourceVersion: "1",
      creationTimestamp: new Date(NOW.getTime() - 60_000 + (meta.created ?? 0)) as unknown as Date,
    },
    spec,
    ...(status && { status }),
  };
}

const state = (flags: FeatureFlag[], configMap?: NamespaceState["configMap"]): NamespaceState => ({
  namespace: "team",
  configMapName: CM,
  flags,
  ...(configMap && { configMap }),
});

/** The namespace after the plan's writes, as the API server merges them. */
function applied(before: NamespaceState, p: NamespacePlan): NamespaceState {
  const byName = new Map(p.statusPatches.map((s) => [s.flag.metadata.name, s.merged]));
  return {
    ...before,
    flags: before.flags.map((f) => {
      const merged = byName.get(f.metadata.name);
      return merged ? { ...f, status: merged } : f;
    }),
    configMap: p.deleteConfigMap
      ? undefined
      : p.configMap
        ? { revision: p.revision, managed: true, ownerReferences: 0 }
        : before.configMap,
  };
}

const doc = (p: NamespacePlan) => parseDocument(p.configMap?.data?.[DOCUMENT_KEY] ?? "");
const reasons = (p: NamespacePlan) => p.events.map((e) => `${e.flag.metadata.name}:${e.reason}`);

const canary: FeatureFlagSpec = {
  enabled: true,
  rollout: {
    percent: 100,
    canary: {
      steps: [
        { percent: 5, pause: "1m" },
        { percent: 50, pause: "1m" },
      ],
      analysis: { alerts: [{ alertName: "ErrorRateHigh" }], interval: "30s" },
    },
  },
};

/** Runs the plan, checks it is a fixed point once applied, and returns both. */
function settle(s: NamespaceState, now = NOW) {
  const first = plan(s, now);
  const after = applied(s, first);
  const second = plan(after, now);
  expect(second.configMap, "nothing left to write to the ConfigMap").toBeUndefined();
  expect(second.statusPatches, "nothing left to write to status").toEqual([]);
  expect(second.events, "no Event twice").toEqual([]);
  return { first, after };
}

describe("plan", () => {
  const cases: {
    name: string;
    given: () => NamespaceState;
    now?: Date;
    expect: (p: NamespacePlan, after: NamespaceState) => void;
  }[] = [
    {
      name: "fresh flag: projected, Ready, no Event for a plain create",
      given: () => state([flag("checkout", { enabled: true, rollout: { percent: 25 } })]),
      expect: (p) => {
        expect(doc(p).flags.checkout).toMatchObject({ enabled: true, percent: 25, killed: false });
        expect(p.configMap?.metadata?.ownerReferences).toBeUndefined();
        expect(p.configMap?.metadata?.labels?.["app.kubernetes.io/managed-by"]).toBe("flagwright");
        const status = p.statusPatches[0]?.status;
        expect(status).toMatchObject({ phase: "Completed", currentPercent: 25, key: "checkout" });
        expect(status?.projection).toMatchObject({
          configMap: CM,
          revision: doc(p).flags.checkout?.revision,
        });
        expect(status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "True" });
        expect(p.events).toEqual([]);
      },
    },
    {
      name: "fresh canary: starts at step 0 with an Event and a requeue for the pause",
      given: () => state([flag("ramp", canary)]),
      expect: (p) => {
        expect(doc(p).flags.ramp?.percent).toBe(5);
        expect(reasons(p)).toEqual(["ramp:RolloutStarted"]);
        expect(p.requeueAfterMs).toBeGreaterThan(0);
      },
    },
    {
      name: "spec change: the new percent is projected and observedGeneration follows",
      given: () => {
        const s = settle(state([flag("checkout", { enabled: true, rollout: { percent: 25 } })])).after;
        const old = s.flags[0] as FeatureFlag;
        const changed = flag("checkout", { enabled: true, rollout: { percent: 60 } }, old.status, {
          generation: 2,
        });
        return { ...s, flags: [changed] };
      },
      expect: (p) => {
        expect(doc(p).flags.checkout?.percent).toBe(60);
        expect(p.statusPatches[0]?.status).toMatchObject({ observedGeneration: 2, currentPercent: 60 });
      },
    },
    {
      name: "kill: served off with a Killed condition and one Event",
      given: () => {
        const s = settle(state([flag("checkout", { enabled: true })])).after;
        const f = s.flags[0] as FeatureFlag;
        const status = { ...f.status, controls: { killed: { at: later(-1).toISOString(), by: "ann" } } };
        return { ...s, flags: [{ ...f, status }] };
      },
      expect: (p) => {
        expect(doc(p).flags.checkout?.killed).toBe(true);
        expect(p.statusPatches[0]?.status.conditions?.find((c) => c.type === "Killed")?.status).toBe("True");
        expect(p.statusPatches[0]?.status.controls).toBeUndefined();
        expect(reasons(p)).toEqual(["checkout:Killed"]);
      },
    },
    {
      name: "rollback: a pushed alert recorded by any replica takes the canary to 0, recorded once",
      given: () => {
        const s = settle(state([flag("ramp", canary)])).after;
        const f = s.flags[0] as FeatureFlag;
        const pushedAlert = {
          at: later(1).toISOString(),
          result: "Failed" as const,
          reason: "Alert" as const,
          alertName: "ErrorRateHigh",
          message: "alert ErrorRateHigh is firing (Alertmanager)",
        };
        return { ...s, flags: [{ ...f, status: { ...f.status, pushedAlert } }] };
      },
      now: later(2),
      expect: (p) => {
        expect(doc(p).flags.ramp?.percent).toBe(0);
        expect(p.statusPatches[0]?.status).toMatchObject({
          phase: "RolledBack",
          rollback: { reason: "Alert", alertName: "ErrorRateHigh" },
        });
        expect(p.statusPatches[0]?.status.pushedAlert).toBeUndefined();
        expect(reasons(p)).toEqual(["ramp:RolledBack"]);
        expect(p.events[0]?.rollbackReason).toBe("Alert");
      },
    },
    {
      name: "duplicate key: the later flag is left out with Degraded naming the key",
      given: () =>
        state([
          flag("a", { enabled: true, key: "shared" }),
          flag("b", { enabled: true, key: "shared" }, undefined, { created: 1000 }),
        ]),
      expect: (p) => {
        expect(Object.keys(doc(p).flags)).toEqual(["shared"]);
        const b = p.statusPatches.find((s) => s.flag.metadata.name === "b")?.status;
        expect(b?.conditions?.find((c) => c.type === "Degraded")).toMatchObject({
          status: "True",
          reason: "DuplicateKey",
        });
        expect(b?.conditions?.find((c) => c.type === "Ready")?.status).toBe("False");
        expect(b?.projection).toBeUndefined();
        expect(reasons(p)).toEqual(["b:DuplicateKey"]);
      },
    },
    {
      name: "oversized namespace: flags past 1 MiB are left out with Degraded DocumentTooLarge",
      given: () => {
        const users = Array.from({ length: 400 }, (_, i) => `user-${String(i).padStart(6, "0")}`);
        return state(
          Array.from({ length: 250 }, (_, i) =>
            flag(`f${String(i).padStart(3, "0")}`, { enabled: true, allowedUsers: users }),
          ),
        );
      },
      expect: (p) => {
        const text = p.configMap?.data?.[DOCUMENT_KEY] ?? "";
        expect(Buffer.byteLength(text)).toBeLessThan(MAX_DOCUMENT_BYTES + 1000);
        const left = p.statusPatches.filter((s) =>
          s.status.conditions?.some((c) => c.type === "Degraded" && c.reason === "DocumentTooLarge"),
        );
        expect(left.length).toBeGreaterThan(0);
        expect(p.projected + left.length).toBe(250);
        expect(left[0]?.status.conditions?.find((c) => c.type === "Degraded")?.message).toMatch(/1 MiB/);
      },
    },
    {
      name: "missing status on an otherwise projected flag: status written, ConfigMap left alone",
      given: () => {
        const s = settle(state([flag("checkout", { enabled: true })])).after;
        return { ...s, flags: s.flags.map((f) => ({ ...f, status: undefined })) };
      },
      expect: (p) => {
        expect(p.configMap).toBeUndefined();
        expect(p.statusPatches).toHaveLength(1);
      },
    },
    {
      name: "stale status: other writers' fields and conditions are never sent",
      given: () => {
        const s = settle(state([flag("checkout", { enabled: true, rollout: { percent: 10 } })])).after;
        const f = s.flags[0] as FeatureFlag;
        const status: FeatureFlagStatus = {
          ...f.status,
          observedGeneration: 0,
          experiment: { verdict: "none" },
          controls: { paused: { at: NOW.toISOString() } },
          analysisOutcome: { at: NOW.toISOString(), result: "Passed", message: "ok" },
          conditions: [
            ...(f.status?.conditions ?? []),
            { type: "Stale", status: "True", reason: "Unchanged", lastTransitionTime: NOW.toISOString() },
          ],
        };
        return { ...s, flags: [{ ...f, status }] };
      },
      expect: (p, after) => {
        const sent = p.statusPatches[0]?.status ?? {};
        const owned: readonly string[] = STATUS_WRITERS.reconciler.fields;
        expect(Object.keys(sent).filter((k) => k !== "conditions" && !owned.includes(k))).toEqual([]);
        expect(sent.conditions?.map((c) => c.type)).not.toContain("Stale");
        expect(sent.observedGeneration).toBe(1);
        const kept = after.flags[0]?.status;
        expect(kept?.conditions?.find((c) => c.type === "Stale")?.status).toBe("True");
        expect(kept?.experiment).toEqual({ verdict: "none" });
      },
    },
    {
      name: "a ConfigMap left with per-flag owner references by an older version is rewritten without",
      given: () => {
        const s = settle(state([flag("checkout", { enabled: true })])).after;
        return { ...s, configMap: { revision: s.configMap?.revision, managed: true, ownerReferences: 1 } };
      },
      expect: (p) => {
        expect(p.configMap).toBeDefined();
        expect(p.configMap?.metadata?.ownerReferences).toBeUndefined();
        expect(p.statusPatches).toEqual([]);
      },
    },
    {
      name: "last flag gone: the ConfigMap is deleted",
      given: () => state([], { revision: "x", managed: true, ownerReferences: 0 }),
      expect: (p) => {
        expect(p.deleteConfigMap).toBe(true);
        expect(p.configMap).toBeUndefined();
      },
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const given = c.given();
      const { first, after } = settle(given, c.now ?? NOW);
      c.expect(first, after);
    });
  }

  it("a change to one flag rewrites that flag's status only, not its neighbours'", () => {
    const flags = [flag("a", { enabled: true, rollout: { percent: 25 } }), flag("b", { enabled: true })];
    const { after } = settle(state(flags));
    const changed = flag("a", { enabled: true, rollout: { percent: 30 } }, after.flags[0]?.status, {
      generation: 2,
    });
    const p = plan({ ...after, flags: [changed, after.flags[1] as FeatureFlag] }, later(1));
    expect(p.configMap).toBeDefined();
    expect(p.statusPatches.map((s) => s.flag.metadata.name)).toEqual(["a"]);
  });

  it("everything already projected: no write at all (an operator restart)", () => {
    const flags = [
      flag("a", { enabled: true, rollout: { percent: 25 } }),
      flag("b", canary),
      flag("c", { enabled: false }),
    ];
    const { after } = settle(state(flags));
    const again = plan(after, later(5));
    expect(again.configMap).toBeUndefined();
    expect(again.statusPatches).toEqual([]);
    expect(again.events).toEqual([]);
  });
});

describe("plan with targeting", () => {
  const segment = (name: string, when: string): Segment => ({
    apiVersion: "flagwright.dev/v1alpha1",
    kind: "Segment",
    metadata: { name, namespace: "team" },
    spec: { when },
  });
  const beta: FeatureFlagSpec = {
    enabled: true,
    rollout: { percent: 0 },
    rules: [{ name: "beta", segments: ["testers"], serve: { enabled: true } }],
  };

  it("projects the segments a rule names, and a segment change is a new flag revision", () => {
    const s = { ...state([flag("reports", beta)]), segments: [segment("testers", 'plan == "beta"')] };
    const { first, after } = settle(s);
    const document = doc(first);
    expect(document.flags.reports?.rules?.[0]?.segments).toEqual(["testers"]);
    expect(document.segments?.testers?.when).toBe('plan == "beta"');
    const changed = plan({ ...after, segments: [segment("testers", 'plan == "gamma"')] }, later(1));
    expect(changed.configMap).toBeDefined();
    expect(changed.statusPatches.map((p) => p.flag.metadata.name)).toEqual(["reports"]);
  });

  it("a missing segment: Ready=False naming the field, and the last good version keeps serving", () => {
    const good = { ...state([flag("reports", beta)]), segments: [segment("testers", 'plan == "beta"')] };
    const { first, after } = settle(good);
    const previousDocument = first.document;
    const broken = plan({ ...after, segments: [], previousDocument }, later(1));
    const patch = broken.statusPatches.find((p) => p.flag.metadata.name === "reports");
    const ready = patch?.status.conditions?.find((c) => c.type === "Ready");
    expect(ready?.status).toBe("False");
    expect(ready?.reason).toBe("SegmentNotFound");
    expect(ready?.message).toContain('spec.rules[0].segments[0]: segment "testers"');
    // Nothing changed for sidecars: the document is the one already projected.
    expect(broken.configMap).toBeUndefined();
    expect(broken.revision).toBe(first.revision);
    // Without a last good version the flag is left out rather than served without its rule.
    const fresh = plan({ ...state([flag("reports", beta)]), segments: [] }, NOW);
    expect(doc(fresh).flags.reports).toBeUndefined();
  });

  it("a rule reading now: status shows the next scheduled change and the plan looks again after it", () => {
    const launch: FeatureFlagSpec = {
      enabled: true,
      rollout: { percent: 0 },
      rules: [{ name: "launch", when: 'now >= timestamp("2026-12-01T12:10:00Z")', serve: { enabled: true } }],
    };
    const { first } = settle(state([flag("sale", launch)]));
    expect(first.statusPatches[0]?.status.nextScheduledChange).toBe("2026-12-01T12:10:00.000Z");
    expect(first.requeueAfterMs).toBe(10 * 60_000 + 1000);
  });
});

describe("pendingOutcomes", () => {
  it("returns recorded outcomes newer than the last counted check, oldest first", () => {
    const status: FeatureFlagStatus = {
      lastAnalysis: { at: later(1).toISOString(), result: "Passed" },
      analysisOutcome: { at: later(3).toISOString(), result: "Passed", message: "ok" },
      pushedAlert: { at: later(2).toISOString(), result: "Failed", reason: "Alert", message: "firing" },
    };
    expect(pendingOutcomes(status).map((o) => o.result)).toEqual(["Failed", "Passed"]);
    expect(pendingOutcomes({ ...status, lastAnalysis: { at: later(3).toISOString() } })).toEqual([]);
  });
});
