// The operator's experiment loop with a stand-in Prometheus and a recording status API: what it
// queries, and that it sends only status.experiment and the Stale condition under its own manager.
import { pino } from "pino";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { FeatureFlag } from "../../../src/api/index.js";
import { STATUS_WRITERS } from "../../../src/api/ownership.js";
import type { ExperimentResult } from "../../../src/experiment/analysis.js";
import { countQuery } from "../../../src/experiment/queries.js";
import { ExperimentLoop } from "../../../src/operator/experiments.js";
import type { PrometheusVectorApi, VectorSample } from "../../../src/rollout/prometheus.js";
import { CounterTsdb } from "../../support/counter-tsdb.js";
import { inMemoryExperimentLoop } from "../../support/experiment-loop.js";

const now = new Date("2026-11-25T12:00:00Z");

function flag(over: Partial<FeatureFlag["spec"]> = {}, status: FeatureFlag["status"] = {}): FeatureFlag {
  return {
    apiVersion: "flagwright.dev/v1alpha1",
    kind: "FeatureFlag",
    metadata: { name: "checkout", namespace: "shop", generation: 1 },
    spec: {
      enabled: true,
      variants: [
        { name: "control", weight: 50 },
        { name: "treatment", weight: 50 },
      ],
      experiment: { conversionEvent: "purchase", minSamplePerVariant: 100 },
      ...over,
    },
    status: { phase: "Completed", currentPercent: 100, effectiveSince: "2026-11-01T00:00:00Z", ...status },
  };
}

function harness(values: Record<string, number>, flags: FeatureFlag[]) {
  const queries: string[] = [];
  const patches: { body: { status: Record<string, unknown> }; fieldManager: string; force: boolean }[] = [];
  // One series per counter, at the given value; no resets.
  const prometheus: PrometheusVectorApi = {
    address: "http://prometheus",
    alerts: async () => [],
    query: () => Promise.reject(new Error("the experiment loop reads whole vectors")),
    queryVector: async (promql): Promise<VectorSample[]> => {
      queries.push(promql);
      if (promql.startsWith("resets(")) return [];
      const hit = Object.entries(values).find(([k]) => promql.includes(k));
      return hit ? [{ labels: { pod: "app-1" }, value: hit[1] }] : [];
    },
  };
  const registry = new Registry();
  const loop = new ExperimentLoop({
    custom: {
      patchNamespacedCustomObjectStatus: async (req: never) => {
        patches.push(req);
        return {};
      },
    } as never,
    prometheus,
    listFlags: () => flags,
    log: pino({ level: "silent" }),
    registry,
    now: () => now,
  });
  return { loop, queries, patches, registry };
}

describe("experiment loop", () => {
  it("builds per-variant queries for the sidecar's counters or the application's own", () => {
    expect(countQuery(flag(), "exposures", "control")).toBe(
      'sum(flagwright_exposures_total{namespace="shop",flag="checkout",variant="control"})',
    );
    expect(countQuery(flag(), "conversions", "treatment")).toBe(
      'sum(flagwright_conversions_total{namespace="shop",flag="checkout",variant="treatment",event="purchase"})',
    );
    const own = flag({ experiment: { conversionEvent: "x", metrics: { conversions: "shop_orders_total" } } });
    expect(countQuery(own, "conversions", "control")).toBe(
      'sum(shop_orders_total{flag="checkout",variant="control"})',
    );
  });

  it("writes only status.experiment and the Stale condition, under its own field manager", async () => {
    const { loop, patches, registry } = harness(
      {
        'flagwright_exposures_total{namespace="shop",flag="checkout",variant="control"}': 1000,
        'flagwright_exposures_total{namespace="shop",flag="checkout",variant="treatment"}': 1000,
        'variant="control",event="purchase"': 100,
        'variant="treatment",event="purchase"': 160,
      },
      // Planned for a 50 % lift, so 1000 per variant is past the plan and the always-valid test decides.
      [
        flag({
          experiment: { conversionEvent: "purchase", minSamplePerVariant: 100, minDetectableEffect: 0.5 },
        }),
      ],
    );
    await loop.runOnce();
    expect(patches).toHaveLength(1);
    const patch = patches[0];
    expect(patch?.fieldManager).toBe(STATUS_WRITERS.experiments.fieldManager);
    expect(patch?.force).toBe(true);
    expect(Object.keys(patch?.body.status ?? {}).sort()).toEqual(["conditions", "experiment"]);
    expect(patch?.body.status.conditions).toEqual([
      expect.objectContaining({ type: "Stale", status: "False", reason: "Varies" }),
    ]);
    expect(patch?.body.status.experiment).toMatchObject({
      method: "sequential",
      verdict: "Significant",
      winner: "treatment",
      startedAt: now.toISOString(),
      runningSeconds: 0,
    });
    expect(await registry.getSingleMetricAsString("flagwright_stale_flags")).toContain('namespace="shop"} 0');
  });

  it("does not rewrite unchanged results, and keeps the last results when Prometheus fails", async () => {
    const first = harness({ exposures_total: 500, conversions_total: 50 }, [flag()]);
    await first.loop.runOnce();
    const written = first.patches[0]?.body.status;
    const unchanged = flag(
      {},
      { conditions: written?.conditions as never, experiment: written?.experiment as never },
    );
    const again = harness({ exposures_total: 500, conversions_total: 50 }, [unchanged]);
    await again.loop.runOnce();
    expect(again.patches).toHaveLength(0);

    const patches: { body: { status: Record<string, unknown> } }[] = [];
    const broken = new ExperimentLoop({
      custom: { patchNamespacedCustomObjectStatus: async (req: never) => patches.push(req) } as never,
      prometheus: {
        address: "",
        alerts: async () => [],
        query: () => Promise.reject(new Error("connection refused")),
        queryVector: () => Promise.reject(new Error("connection refused")),
      },
      listFlags: () => [unchanged],
      log: pino({ level: "silent" }),
      registry: new Registry(),
      now: () => now,
    });
    await broken.runOnce();
    // The previous results stay (verdict and counts), with the error beside them.
    expect(patches[0]?.body.status.experiment).toMatchObject({
      verdict: "NotSignificant",
      error: "connection refused",
      variants: expect.any(Array),
    });
  });

  it("confines the application's own counters (flag-authored PromQL) to the flag's namespace", async () => {
    const injected = flag({
      experiment: {
        conversionEvent: "purchase",
        metrics: { exposures: "up) or sum(other_team_total", conversions: "orders_total" },
      },
    });
    const { loop, queries, patches } = harness({}, [injected]);
    await loop.runOnce();
    expect(queries).toContain(
      'last_over_time(up{namespace="shop"}) or sum(other_team_total{flag="checkout",variant="control",namespace="shop"}[300s])',
    );
    expect(queries).toContain(
      'last_over_time(orders_total{flag="checkout",variant="treatment",namespace="shop"}[300s])',
    );

    const unparsable = harness({}, [
      flag({ experiment: { conversionEvent: "purchase", metrics: { exposures: "x{" } } }),
    ]);
    await unparsable.loop.runOnce();
    expect(unparsable.queries.filter((q) => q.includes("(x{"))).toEqual([]);
    expect(unparsable.patches[0]?.body.status.experiment).toMatchObject({
      error: expect.stringMatching(/^spec\.experiment\.metrics does not parse as PromQL/),
    });
    expect(patches).toHaveLength(1);
  });

  it("sets Stale=True and counts it in flagwright_stale_flags", async () => {
    const old = flag(
      { variants: undefined, experiment: undefined, staleAfter: "7d" },
      { effectiveSince: "2026-11-01T00:00:00Z" },
    );
    const { loop, patches, registry } = harness({}, [old]);
    await loop.runOnce();
    expect(patches[0]?.body.status).toEqual({
      conditions: [expect.objectContaining({ type: "Stale", status: "True", reason: "FullyOn" })],
    });
    expect(await registry.getSingleMetricAsString("flagwright_stale_flags")).toContain('namespace="shop"} 1');
  });
});

describe("experiment counts across pod replacement and operator restarts", () => {
  /** A loop over one flag whose status is fed back as the informer would; a new loop per call is a restarted operator. */
  function cluster(tsdb: CounterTsdb, start: Date) {
    let clock = start;
    const { state, newLoop: loop } = inMemoryExperimentLoop(
      flag({
        experiment: { conversionEvent: "purchase", minSamplePerVariant: 100, minDetectableEffect: 0.5 },
      }),
      tsdb,
      () => clock,
    );
    return {
      loop,
      /** A spec change (a new generation), as `kubectl apply` of an edited manifest. */
      bumpGeneration() {
        state.flag = {
          ...state.flag,
          metadata: { ...state.flag.metadata, generation: (state.flag.metadata.generation ?? 0) + 1 },
        };
      },
      advance(ms: number) {
        clock = new Date(clock.getTime() + ms);
        return clock;
      },
      get experiment() {
        return state.flag.status?.experiment as
          | (ExperimentResult & { variants: { name: string; exposures: number; conversions: number }[] })
          | undefined;
      },
    };
  }

  const counter = (pod: string, variant: string, kind: "exposures" | "conversions") => ({
    __name__: kind === "exposures" ? "flagwright_exposures_total" : "flagwright_conversions_total",
    namespace: "shop",
    flag: "checkout",
    variant,
    pod,
    ...(kind === "conversions" && { event: "purchase" }),
  });
  const scrape = (
    tsdb: CounterTsdb,
    pod: string,
    at: Date,
    values: Record<string, { exposures: number; conversions: number }>,
  ) => {
    for (const [variant, v] of Object.entries(values)) {
      tsdb.append(counter(pod, variant, "exposures"), at.getTime(), v.exposures);
      tsdb.append(counter(pod, variant, "conversions"), at.getTime(), v.conversions);
    }
  };
  const stale = (tsdb: CounterTsdb, pod: string, at: Date) => {
    for (const variant of ["control", "treatment"])
      for (const kind of ["exposures", "conversions"] as const)
        tsdb.markStale(counter(pod, variant, kind), at.getTime());
  };
  const totals = (e: ReturnType<typeof cluster>["experiment"]) =>
    Object.fromEntries((e?.variants ?? []).map((v) => [v.name, [v.exposures, v.conversions]]));

  it("keeps the totals and the verdict when the app's pod is replaced and the operator restarts", async () => {
    const tsdb = new CounterTsdb();
    const c = cluster(tsdb, now);
    const old = {
      control: { exposures: 1000, conversions: 100 },
      treatment: { exposures: 1000, conversions: 160 },
    };
    scrape(tsdb, "app-1", c.advance(-15_000), old);
    c.advance(15_000);
    await c.loop().runOnce();
    expect(totals(c.experiment)).toEqual({ control: [1000, 100], treatment: [1000, 160] });
    expect(c.experiment).toMatchObject({ verdict: "Significant", winner: "treatment" });

    // A deploy: app-1 goes away (its last scrape saw a few more events), app-2 starts from zero.
    scrape(tsdb, "app-1", c.advance(10_000), {
      control: { exposures: 1010, conversions: 101 },
      treatment: { exposures: 1010, conversions: 161 },
    });
    stale(tsdb, "app-1", c.advance(15_000));
    scrape(tsdb, "app-2", c.advance(20_000), {
      control: { exposures: 20, conversions: 2 },
      treatment: { exposures: 20, conversions: 1 },
    });
    c.advance(15_000);
    // The operator restarts (or another replica takes over): it continues from status.
    await c.loop().runOnce();
    expect(totals(c.experiment)).toEqual({ control: [1030, 103], treatment: [1030, 162] });
    expect(c.experiment).toMatchObject({ verdict: "Significant", winner: "treatment" });

    // app-2's container restarts: the counter resets, then it counts on.
    scrape(tsdb, "app-2", c.advance(30_000), {
      control: { exposures: 5, conversions: 0 },
      treatment: { exposures: 5, conversions: 0 },
    });
    c.advance(30_000);
    const again = c.loop();
    await again.runOnce();
    expect(totals(c.experiment)).toEqual({ control: [1035, 103], treatment: [1035, 162] });
    expect(c.experiment).toMatchObject({ verdict: "Significant", winner: "treatment" });
    expect(c.experiment?.message).toContain("held until the spec changes");
  });

  it("holds a Significant verdict and its winner for the generation, and decides afresh in a new one", async () => {
    const tsdb = new CounterTsdb();
    const c = cluster(tsdb, now);
    const loop = c.loop();
    scrape(tsdb, "app-1", c.advance(-15_000), {
      control: { exposures: 1000, conversions: 100 },
      treatment: { exposures: 1000, conversions: 160 },
    });
    c.advance(15_000);
    await loop.runOnce();
    expect(c.experiment).toMatchObject({ verdict: "Significant", winner: "treatment" });

    // Later the treatment's running rate falls below control's: the decision stands.
    scrape(tsdb, "app-1", c.advance(45_000), {
      control: { exposures: 3000, conversions: 600 },
      treatment: { exposures: 3000, conversions: 300 },
    });
    c.advance(15_000);
    await loop.runOnce();
    expect(c.experiment).toMatchObject({ verdict: "Significant", winner: "treatment" });
    expect(c.experiment?.warnings).toContain("the latest look alone reads Significant, control");

    c.bumpGeneration();
    c.advance(60_000);
    await loop.runOnce();
    expect(c.experiment).toMatchObject({ verdict: "Significant", winner: "control" });
    expect(c.experiment?.message).not.toContain("held until the spec changes");
  });
});

describe("experiment loop: what the counts are valid for", () => {
  it("says in status that Prometheus counts are per process, valid for a single pod only", async () => {
    const { loop, patches } = harness({ exposures_total: 500, conversions_total: 50 }, [flag()]);
    await loop.runOnce();
    expect(patches[0]?.body.status.experiment).toMatchObject({
      counting: { source: "Prometheus", usersCountedOnce: false },
    });
    const status = patches[0]?.body.status.experiment as { counting?: { message: string } } | undefined;
    expect(status?.counting?.message).toMatch(/one pod only/);
  });

  it("counts users from the event store's per-user aggregate when one is configured, and keeps its error out of status", async () => {
    const patches: { body: { status: Record<string, unknown> } }[] = [];
    const asked: string[][] = [];
    let fail = false;
    const loop = new ExperimentLoop({
      custom: { patchNamespacedCustomObjectStatus: async (req: never) => patches.push(req) } as never,
      prometheus: undefined,
      eventStore: {
        async userAggregate(namespace, flagKey, event) {
          asked.push([namespace, flagKey, event]);
          if (fail) throw new Error("password authentication failed for user secret-name");
          return [
            {
              variant: "control",
              users: 1000,
              convertedUsers: 100,
              conversionEvents: 130,
              conversionValue: 0,
            },
            {
              variant: "treatment",
              users: 1010,
              convertedUsers: 170,
              conversionEvents: 200,
              conversionValue: 0,
            },
            { variant: "removed", users: 5, convertedUsers: 5, conversionEvents: 5, conversionValue: 0 },
          ];
        },
        close: async () => {},
      },
      listFlags: () => [flag()],
      log: pino({ level: "silent" }),
      registry: new Registry(),
      now: () => now,
    });
    await loop.runOnce();
    expect(asked).toEqual([["shop", "checkout", "purchase"]]);
    const experiment = patches[0]?.body.status.experiment as ExperimentResult & {
      counting: { source: string };
    };
    expect(experiment.counting).toMatchObject({ source: "EventStore", usersCountedOnce: true });
    expect(experiment.variants.map((v) => [v.name, v.exposures, v.conversions])).toEqual([
      ["control", 1000, 100],
      ["treatment", 1010, 170],
    ]);
    fail = true;
    await loop.runOnce();
    const failed = JSON.stringify(patches[1]?.body.status.experiment);
    expect(failed).toContain("the event store did not answer");
    expect(failed).not.toContain("secret-name");
  });
});
