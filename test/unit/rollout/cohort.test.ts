// Guarded rollouts (issue 21): the cohort comparison's decision, its PromQL, its place in
// analyzeFlag, and seeded simulations of whole canaries: an A/A canary (equal error rates) is
// rolled back in at most 5 % of runs, a bug that triples flag-on users' error rate at 5 %
// exposure is rolled back, and the time to decide is printed.
import { describe, expect, it } from "vitest";
import type { FeatureFlag } from "../../../src/api/index.js";
import { analyzeFlag } from "../../../src/rollout/analysis.js";
import { cohortQueries, withMatchers } from "../../../src/rollout/cohort.js";
import { type CohortCounts, type CohortSpec, decideCohort } from "../../../src/rollout/cohort-statistics.js";
import type { PrometheusApi, QueryValue } from "../../../src/rollout/prometheus.js";
import { binomialSampler } from "../../support/binomial.js";
import { seededRandom } from "../../support/seeded-random.js";

const spec: CohortSpec = {
  requests: 'http_requests_total{service="checkout"}',
  errors: 'http_requests_total{service="checkout", code=~"5.."}',
  maxRelativeDegradation: 0.5,
};
const counts = (on: [number, number], off: [number, number]): CohortCounts => ({
  on: { requests: on[0], errors: on[1] },
  off: { requests: off[0], errors: off[1] },
});

describe("decideCohort", () => {
  it("holds, saying why, while either cohort has too few requests", () => {
    const d = decideCohort(spec, counts([150, 30], [20_000, 200]), 4);
    expect(d.result).toBe("Inconclusive");
    expect(d.message).toContain("traffic too thin (on 150, off 20000 requests in this step; need 200 each)");
  });

  it("fails when flag-on users fail three times as often at 5 % exposure", () => {
    const d = decideCohort(spec, counts([2_000, 60], [38_000, 380]), 4);
    expect(d.result).toBe("Failed");
    expect(d.comparison?.difference[0]).toBeGreaterThan(0);
    expect(d.message).toMatch(/on 3\.00% \(60\/2000\) vs off 1\.00% \(380\/38000\)/);
    expect(d.message).toContain("interval of on − off");
  });

  it("passes only once a degradation above the limit is ruled out; until then it holds", () => {
    const thin = decideCohort(spec, counts([1_000, 10], [19_000, 190]), 4);
    expect(thin.result).toBe("Inconclusive");
    expect(thin.message).toContain("cannot yet rule out a degradation above 50%");
    const enough = decideCohort(spec, counts([40_000, 400], [760_000, 7_600]), 4);
    expect(enough.result).toBe("Passed");
    expect(enough.comparison?.excess[1]).toBeLessThan(0);
  });

  it("splits alpha over the canary's compared steps", () => {
    expect(decideCohort(spec, counts([40_000, 400], [760_000, 7_600]), 5).comparison?.alpha).toBeCloseTo(
      0.01,
      12,
    );
    expect(
      decideCohort({ ...spec, alpha: 0.1 }, counts([40_000, 400], [760_000, 7_600]), 2).comparison?.alpha,
    ).toBeCloseTo(0.05, 12);
  });

  it("copes with cohorts without errors", () => {
    const d = decideCohort(spec, counts([5_000, 0], [95_000, 0]), 1);
    expect(d.result).not.toBe("Failed");
    expect(Number.isFinite(d.comparison?.difference[1] ?? Number.NaN)).toBe(true);
  });
});

describe("cohort PromQL", () => {
  it("adds the flag and variant matchers (OpenTelemetry names by default) to each counter selector", () => {
    const q = cohortQueries(spec, "new-checkout", 90);
    const on =
      'http_requests_total{service="checkout", feature_flag_key="new-checkout", feature_flag_result_variant=~"on"}';
    // Series born inside the window count their latest value: increase() would drop their first sample.
    expect(q.onRequests).toBe(
      `sum((increase(${on}[90s]) and ${on} offset 90s) or (last_over_time(${on}[90s]) unless ${on} offset 90s))`,
    );
    expect(q.offErrors).toContain(
      'increase(http_requests_total{service="checkout", code=~"5..", feature_flag_key="new-checkout", feature_flag_result_variant=~"off"}[90s])',
    );
    const custom = cohortQueries(
      {
        ...spec,
        requests: "reqs",
        flagLabel: "flag",
        variantLabel: "variant",
        onVariants: ["b.1", "c"],
        offVariants: ["a"],
      },
      'k"ey',
      30,
    );
    expect(custom.onRequests).toContain('increase(reqs{flag="k\\"ey", variant=~"b\\\\.1|c"}[30s])');
  });

  it("withMatchers handles bare names, empty braces and selectors", () => {
    expect(withMatchers("x", 'a="1"')).toBe('x{a="1"}');
    expect(withMatchers("x{}", 'a="1"')).toBe('x{a="1"}');
    expect(withMatchers('x{b="2"}', 'a="1"')).toBe('x{b="2", a="1"}');
  });
});

describe("analyzeFlag with a cohort comparison", () => {
  const flag = (stepStartedAt?: string): FeatureFlag => ({
    apiVersion: "flagwright.dev/v1alpha1",
    kind: "FeatureFlag",
    metadata: { name: "new-checkout", namespace: "shop" },
    spec: {
      enabled: true,
      rollout: {
        percent: 100,
        canary: { steps: [{ percent: 5 }, { percent: 50 }], analysis: { cohort: spec } },
      },
    },
    ...(stepStartedAt !== undefined && { status: { stepStartedAt } }),
  });
  const prometheus = (values: { onReq: number; onErr: number; offReq: number; offErr: number }) => {
    const queries: string[] = [];
    const api: PrometheusApi = {
      address: "http://prometheus",
      alerts: async () => [],
      query: async (promql): Promise<QueryValue> => {
        queries.push(promql);
        const on = promql.includes('=~"on"');
        const err = promql.includes("5..");
        const value = on ? (err ? values.onErr : values.onReq) : err ? values.offErr : values.offReq;
        return { kind: "value", value, series: 1 };
      },
    };
    return { api, queries };
  };
  const now = new Date("2026-12-02T12:00:00Z");

  it("rolls back with reason Cohort, reading the counters since the step began", async () => {
    const { api, queries } = prometheus({ onReq: 2000, onErr: 60, offReq: 38000, offErr: 380 });
    const outcome = await analyzeFlag(flag("2026-12-02T11:58:00Z"), api, now);
    expect(outcome).toMatchObject({ result: "Failed", reason: "Cohort" });
    expect(outcome.message).toContain("over the last 120s");
    expect(queries.every((q) => q.includes("[120s])") && q.endsWith("offset 120s))"))).toBe(true);
  });

  it("is inconclusive (never advances) while traffic is thin, and Unavailable when Prometheus fails", async () => {
    const { api } = prometheus({ onReq: 20, onErr: 0, offReq: 380, offErr: 3 });
    const outcome = await analyzeFlag(flag(), api, now);
    expect(outcome.result).toBe("Inconclusive");
    expect(outcome.message).toContain("over the last 30s");
    const down: PrometheusApi = {
      address: "",
      alerts: async () => [],
      query: () => Promise.reject(new Error("refused")),
    };
    expect(await analyzeFlag(flag(), down, now)).toMatchObject({ result: "Unavailable" });
  });

  it("adds the slice since the last reading (from status, so a new leader resumes), and starts afresh in a new step", async () => {
    const started = "2026-12-02T11:58:00Z";
    // First look: cumulative counts since the step began.
    const first = prometheus({ onReq: 1_000, onErr: 10, offReq: 19_000, offErr: 190 });
    const one = await analyzeFlag(flag(started), first.api, now);
    expect(one.cohortProgress).toMatchObject({
      stepStartedAt: "2026-12-02T11:58:00.000Z",
      readAt: now.toISOString(),
      reading: { onRequests: 1_000, onErrors: 10, offRequests: 19_000, offErrors: 190 },
      tally: { slices: 1, onRequests: 1_000, offRequests: 19_000 },
    });
    // Another replica, 30 s later, reads the progress from status: only the new slice is added.
    const later = new Date(now.getTime() + 30_000);
    const second = prometheus({ onReq: 1_500, onErr: 16, offReq: 38_000, offErr: 380 });
    const withStatus: FeatureFlag = {
      ...flag(started),
      status: { stepStartedAt: started, cohortAnalysis: one.cohortProgress },
    };
    const two = await analyzeFlag(withStatus, second.api, later);
    expect(two.cohortProgress?.tally).toMatchObject({
      slices: 2,
      onRequests: 1_500,
      onErrors: 16,
      offRequests: 38_000,
    });
    expect(two.cohortProgress?.tally.expectedOnErrors).toBeCloseTo(1_000 * 0.01 + 500 * 0.01, 10);
    expect(two.cohortProgress?.tally.mixingVariance).toBe(one.cohortProgress?.tally.mixingVariance);
    expect(two.message).toContain("(2 time slices; off-cohort at flag-on users' times 1.00%)");
    // A new step: the previous step's progress is not carried over.
    const next = "2026-12-02T12:00:10Z";
    const three = await analyzeFlag(
      { ...flag(next), status: { stepStartedAt: next, cohortAnalysis: two.cohortProgress } },
      first.api,
      new Date(now.getTime() + 60_000),
    );
    expect(three.cohortProgress?.tally.slices).toBe(1);
    // Progress that is not a set of counts (a hand edit, another version) restarts the step's comparison.
    for (const broken of [
      { ...one.cohortProgress, tally: { ...one.cohortProgress?.tally, onErrors: -5 } },
      { ...one.cohortProgress, reading: { onRequests: "many" } },
      { stepStartedAt: started },
      "garbage",
    ]) {
      const fresh = await analyzeFlag(
        { ...flag(started), status: { stepStartedAt: started, cohortAnalysis: broken as never } },
        second.api,
        later,
      );
      expect(fresh.cohortProgress?.tally).toMatchObject({ slices: 1, onRequests: 1_500, onErrors: 16 });
    }
    // Prometheus down: the progress is written back unchanged, so the next write does not drop it.
    const down: PrometheusApi = {
      address: "",
      alerts: async () => [],
      query: () => Promise.reject(new Error("x")),
    };
    const held = await analyzeFlag(withStatus, down, later);
    expect(held).toMatchObject({ result: "Unavailable", cohortProgress: one.cohortProgress });
    // ... but only progress that is a set of counts is written back.
    const brokenStatus = { stepStartedAt: started, cohortAnalysis: { stepStartedAt: started } as never };
    const notCarried = await analyzeFlag({ ...flag(started), status: brokenStatus }, down, later);
    expect(notCarried.cohortProgress).toBeUndefined();
  });

  it("passes at 100 % (no off-cohort to compare with), so a canary whose last step is 100 % completes", async () => {
    const { api, queries } = prometheus({ onReq: 0, onErr: 0, offReq: 0, offErr: 0 });
    const at100: FeatureFlag = { ...flag(), status: { currentPercent: 100 } };
    const outcome = await analyzeFlag(at100, api, now);
    expect(outcome.result).toBe("Passed");
    expect(outcome.message).toContain("every user is on");
    expect(queries).toHaveLength(0);
  });
});

describe("guarded rollout simulations", () => {
  // About 670 requests a second at a 30 s analysis interval; 40 checks (20 minutes) per step at most.
  const steps = [1, 5, 25, 50];
  const requestsPerInterval = 20_000;
  const intervalsPerStep = 40;

  /** One canary: each step reads cumulative counts every interval; returns how it ended. */
  function canary(
    onErrorRate: number,
    offErrorRate: number,
    binomial: (n: number, p: number) => number,
  ): { outcome: "RolledBack" | "Completed" | "Stuck"; at?: { step: number; interval: number } } {
    for (let s = 0; s < steps.length; s++) {
      const share = (steps[s] as number) / 100;
      const c = counts([0, 0], [0, 0]);
      let passed = false;
      for (let i = 1; i <= intervalsPerStep; i++) {
        const onRequests = Math.round(requestsPerInterval * share);
        const offRequests = requestsPerInterval - onRequests;
        c.on.requests += onRequests;
        c.on.errors += binomial(onRequests, onErrorRate);
        c.off.requests += offRequests;
        c.off.errors += binomial(offRequests, offErrorRate);
        const d = decideCohort(spec, c, steps.length);
        if (d.result === "Failed") return { outcome: "RolledBack", at: { step: s, interval: i } };
        if (d.result === "Passed") {
          passed = true;
          break;
        }
      }
      if (!passed) return { outcome: "Stuck", at: { step: s, interval: intervalsPerStep } };
    }
    return { outcome: "Completed" };
  }

  it("A/A: 2,000 canaries with equal error rates are rolled back in at most 5 % (plus sampling error)", () => {
    const binomial = binomialSampler(seededRandom(2112), { normalAbove: 200 });
    const runs = 2000;
    const tally = { RolledBack: 0, Completed: 0, Stuck: 0 };
    for (let r = 0; r < runs; r++) tally[canary(0.02, 0.02, binomial).outcome]++;
    const rate = tally.RolledBack / runs;
    const bound = 0.05 + 2 * Math.sqrt((0.05 * 0.95) / runs);
    console.log(
      `guarded rollout A/A (2 % errors, steps ${steps.join("/")} %, ${requestsPerInterval} requests per interval): ` +
        `${tally.RolledBack} rolled back (${(rate * 100).toFixed(2)} %, bound ${(bound * 100).toFixed(2)} %), ` +
        `${tally.Completed} completed, ${tally.Stuck} held at a step for ${intervalsPerStep} intervals`,
    );
    expect(rate).toBeLessThanOrEqual(bound);
    expect(tally.Completed / runs).toBeGreaterThan(0.5);
  }, 60_000);

  it("a bug that triples flag-on users' error rate is rolled back at 1-5 % exposure", () => {
    const binomial = binomialSampler(seededRandom(3), { normalAbove: 200 });
    const runs = 500;
    const where: number[] = [];
    let rolledBack = 0;
    let early = 0;
    for (let r = 0; r < runs; r++) {
      const run = canary(0.03, 0.01, binomial);
      if (run.outcome === "RolledBack") {
        rolledBack++;
        if ((run.at?.step ?? 99) <= 1) early++;
        where.push((run.at?.step ?? 0) * intervalsPerStep + (run.at?.interval ?? 0));
      }
    }
    where.sort((a, b) => a - b);
    console.log(
      `guarded rollout, 1 % -> 3 % errors for flag-on users: ${rolledBack}/${runs} rolled back, ${early} of them at the 1 % or 5 % step; ` +
        `median ${where[Math.floor(where.length / 2)]} intervals of ${requestsPerInterval} requests`,
    );
    expect(rolledBack / runs).toBeGreaterThan(0.95);
    expect(early / runs).toBeGreaterThan(0.9);
  }, 60_000);
});
