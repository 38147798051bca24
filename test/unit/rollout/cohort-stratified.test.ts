// Guarded rollouts that stay right when traffic moves: seeded simulations (1,000 runs each, figures
// printed) of a regression exactly at maxRelativeDegradation, of A/A canaries through a shared
// incident while the flag-on share of traffic moves, and of the power against a 2× regression;
// and the pieces that make them hold (null variances, time slices, a mixture fixed per step, alpha
// split only over the steps that compare).
import { describe, expect, it } from "vitest";
import { comparedSteps, sliceBetween } from "../../../src/rollout/cohort.js";
import {
  addSlice,
  type CohortCounts,
  type CohortSpec,
  type CohortTally,
  decideCohort,
  EMPTY_TALLY,
  stepAlpha,
  testTally,
  tunedMixingVariance,
} from "../../../src/rollout/cohort-statistics.js";
import { binomialSampler } from "../../support/binomial.js";
import { seededRandom } from "../../support/seeded-random.js";

const spec: CohortSpec = {
  requests: "http_requests_total",
  errors: "errors_total",
  maxRelativeDegradation: 0.5,
};
const slice = (on: [number, number], off: [number, number]): CohortCounts => ({
  on: { requests: on[0], errors: on[1] },
  off: { requests: off[0], errors: off[1] },
});
const RUNS = 1000;
const bound = (level: number, runs = RUNS) => level + 2 * Math.sqrt((level * (1 - level)) / runs);
const percent = (x: number) => `${(x * 100).toFixed(1)} %`;

describe("a step's tally", () => {
  it("fixes the mixing variance at the step's first decisive look, whatever the off-cohort does later", () => {
    let tally: CohortTally = EMPTY_TALLY;
    tally = addSlice(tally, slice([100, 1], [9_900, 99]), 0.5);
    const thin = decideCohort(spec, tally, 1);
    expect(thin.result).toBe("Inconclusive");
    expect(thin.tally.mixingVariance).toBeUndefined();
    tally = addSlice(thin.tally, slice([200, 2], [19_800, 198]), 0.5);
    const first = decideCohort(spec, tally, 1);
    const fixed = first.tally.mixingVariance;
    expect(fixed).toBeCloseTo(tunedMixingVariance(0.5, 0.05, 297, 29_700), 15);
    // The off-cohort's error rate triples afterwards: the mixture stays as it was.
    tally = addSlice(first.tally, slice([300, 9], [29_700, 891]), 0.5);
    expect(decideCohort(spec, tally, 1).tally.mixingVariance).toBe(fixed);
  });

  it("splits alpha only over the steps that compare (the 100 % step has no off-cohort)", () => {
    expect(comparedSteps([{ percent: 5 }, { percent: 50 }, { percent: 100 }])).toBe(2);
    expect(comparedSteps([{ percent: 100 }])).toBe(1);
    expect(stepAlpha(spec, comparedSteps([{ percent: 5 }, { percent: 100 }]))).toBe(0.05);
  });

  it("cannot read zero flag-on errors as certainty: the variance is the null one, not the plug-in", () => {
    // At a 0.1 % base, a regression at the limit (0.15 %) expects 3 errors in 2,000 flag-on
    // requests and has none in 5 % of runs: 0 errors is not enough to rule it out.
    const d = decideCohort(spec, addSlice(EMPTY_TALLY, slice([2_000, 0], [38_000, 38]), 0.5), 1);
    expect(d.result).toBe("Inconclusive");
    const none = decideCohort(spec, addSlice(EMPTY_TALLY, slice([5_000, 0], [95_000, 0]), 0.5), 1);
    expect(none.result).not.toBe("Failed");
    expect(Number.isFinite(none.comparison?.difference[1] ?? Number.NaN)).toBe(true);
  });

  it("compares within time slices: a shared incident while flag-on traffic resumes is no regression", () => {
    // 12 quiet hours without flag-on traffic, then an hour where everyone fails twice as often.
    let tally: CohortTally = EMPTY_TALLY;
    for (let h = 0; h < 12; h++) tally = addSlice(tally, slice([0, 0], [180_000, 9_000]), 0.5);
    tally = addSlice(tally, slice([1_800, 180], [178_200, 17_820]), 0.5);
    const d = decideCohort(spec, tally, 1);
    expect(d.result).not.toBe("Failed");
    expect(d.comparison?.offRate).toBeCloseTo(0.1, 10);
    // The pooled counts of today's comparison would have rolled it back.
    const pooled = decideCohort(spec, slice([1_800, 180], [2_338_200, 125_820]), 1);
    expect(pooled.result).toBe("Failed");
  });

  it("keeps the higher of two cumulative readings, so a reading that comes out lower counts nothing twice", () => {
    const a = { onRequests: 100, onErrors: 2, offRequests: 1000, offErrors: 10 };
    const lower = sliceBetween(a, { ...a, onRequests: 98.5, offErrors: 12 });
    expect(lower.slice).toEqual(slice([0, 0], [0, 2]));
    expect(lower.reading).toEqual({ ...a, offErrors: 12 });
    const later = sliceBetween(lower.reading, { ...a, onRequests: 150, offErrors: 12 });
    expect(later.slice.on.requests).toBe(50);
  });
});

describe("guarded rollout simulations: validity and power (1,000 seeded runs each)", () => {
  /** One step: `looks` analyses of `perLook` requests; how it ended and after how many requests. */
  function step(
    random: () => number,
    options: {
      share: number;
      onRate: number;
      offRate: number;
      perLook: number;
      looks: number;
      steps: number;
    },
  ): { result: "Passed" | "Failed" | "Held"; requests: number } {
    const binomial = binomialSampler(random, { normalAbove: 20 });
    let tally: CohortTally = EMPTY_TALLY;
    for (let i = 1; i <= options.looks; i++) {
      const n1 = Math.round(options.perLook * options.share);
      const n0 = options.perLook - n1;
      tally = addSlice(
        tally,
        slice([n1, binomial(n1, options.onRate)], [n0, binomial(n0, options.offRate)]),
        spec.maxRelativeDegradation,
      );
      const d = decideCohort(spec, tally, options.steps);
      tally = d.tally;
      if (d.result !== "Inconclusive") return { result: d.result, requests: i * options.perLook };
    }
    return { result: "Held", requests: options.looks * options.perLook };
  }

  it("a regression exactly at the limit advances in at most 5 % of runs (0.1 % and 1 % base error rates)", () => {
    // 20,000 requests per look at 1 % exposure, 40 looks; the level of one step (alpha 0.05) and of
    // one of four steps (0.0125). Today's comparison (plug-in variances, pooled counts) advanced
    // 11.6 % and 8.7 % of these runs at alpha 0.05, 7.6 % and 5.3 % at alpha/4.
    const random = seededRandom(2901);
    for (const steps of [1, 4]) {
      for (const base of [0.001, 0.01]) {
        const tally = { Passed: 0, Failed: 0, Held: 0 };
        for (let r = 0; r < RUNS; r++) {
          const run = step(random, {
            share: 0.01,
            onRate: base * (1 + spec.maxRelativeDegradation),
            offRate: base,
            perLook: 20_000,
            looks: 40,
            steps,
          });
          tally[run.result]++;
        }
        console.log(
          `guarded, regression at the limit (${base * 100} % -> ${base * 150} %, alpha 0.05/${steps}): ` +
            `advanced ${tally.Passed}/${RUNS} (${percent(tally.Passed / RUNS)}), rolled back ${tally.Failed}, held ${tally.Held}`,
        );
        expect(tally.Passed / RUNS).toBeLessThanOrEqual(0.05);
      }
    }
  }, 120_000);

  it("power against a 2× regression at 5 % exposure is not worse than before by more than 10 %", () => {
    // Before: median 60,000 requests (both cohorts) to the rollback, 1,000 of 1,000 rolled back.
    const random = seededRandom(2902);
    const at: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const run = step(random, {
        share: 0.05,
        onRate: 0.02,
        offRate: 0.01,
        perLook: 20_000,
        looks: 400,
        steps: 4,
      });
      if (run.result === "Failed") at.push(run.requests);
    }
    at.sort((a, b) => a - b);
    const median = at[Math.floor(at.length / 2)] ?? Number.POSITIVE_INFINITY;
    console.log(
      `guarded, 1 % -> 2 % at 5 % exposure: rolled back ${at.length}/${RUNS}, median ${median} requests to the rollback (before: 60000)`,
    );
    expect(at.length / RUNS).toBeGreaterThanOrEqual(0.99);
    expect(median).toBeLessThanOrEqual(60_000 * 1.1);
  }, 60_000);

  // 24 h A/A canaries (flag-on and flag-off fail alike) held at one step, a decision every 10 s,
  // through an hour-long incident that hits everyone alike, while the flag-on share moves.
  const LOOKS = (24 * 3600) / 10;
  const scenarios = [
    {
      name: "×2 at 5 % errors, 50 req/s, flag-on traffic resumes with the incident",
      base: 0.05,
      factor: 2,
      rps: 50,
      shape: "resumes",
      before: "200/200",
    },
    {
      name: "×2 at 5 % errors, 50 req/s, exposure grows 0.1 -> 2 %",
      base: 0.05,
      factor: 2,
      rps: 50,
      shape: "grows",
      before: "13/200",
    },
    {
      name: "×3 at 1 % errors, 200 req/s, flag-on traffic resumes with the incident",
      base: 0.01,
      factor: 3,
      rps: 200,
      shape: "resumes",
      before: "200/200",
    },
    {
      name: "×3 at 1 % errors, 200 req/s, exposure grows 0.1 -> 2 %",
      base: 0.01,
      factor: 3,
      rps: 200,
      shape: "grows",
      before: "60/200",
    },
  ] as const;
  for (const [i, s] of scenarios.entries()) {
    it(`A/A through a shared incident (${s.name}): rolled back in at most 5 % + 2 SE`, () => {
      const random = seededRandom(2910 + i);
      const binomial = binomialSampler(random, { normalAbove: 10 });
      const perLook = s.rps * 10;
      const alpha = stepAlpha(spec, 1);
      const limit = spec.maxRelativeDegradation;
      let rolledBack = 0;
      for (let r = 0; r < RUNS; r++) {
        let tally: CohortTally = EMPTY_TALLY;
        let mixing: number | undefined;
        for (let look = 0; look < LOOKS; look++) {
          const hour = look / 360;
          const share = s.shape === "resumes" ? (hour < 12 ? 0 : 0.01) : 0.001 + (0.019 * look) / LOOKS;
          const incident = s.shape === "resumes" ? hour >= 12 && hour < 13 : hour >= 20 && hour < 21;
          const rate = s.base * (incident ? s.factor : 1);
          const n1 = binomial(perLook, share);
          const n0 = perLook - n1;
          tally = addSlice(tally, slice([n1, binomial(n1, rate)], [n0, binomial(n0, rate)]), limit);
          if (tally.onRequests < 200 || tally.offRequests < 200) continue;
          mixing ??= tunedMixingVariance(limit, alpha, tally.offErrors, tally.offRequests);
          // Only a flag-on excess can fail the test: skip the interval otherwise (it saves most of the time).
          if (tally.onErrors > tally.expectedOnErrors && testTally(tally, limit, alpha, mixing).failed) {
            rolledBack++;
            break;
          }
        }
      }
      console.log(
        `guarded A/A, shared incident ${s.name}: rolled back ${rolledBack}/${RUNS} (${percent(rolledBack / RUNS)}, bound ${percent(bound(0.05))}); pooled counts before: ${s.before}`,
      );
      expect(rolledBack / RUNS).toBeLessThanOrEqual(bound(0.05));
    }, 120_000);
  }
});
