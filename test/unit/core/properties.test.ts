// Statistical and algebraic properties users rely on when they ramp and experiment.
// Thresholds are at significance 0.001; ids and flag keys are fixed, so the test is deterministic.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  evaluate,
  type FlagDocument,
  fineBucketOf,
  parseDocument,
  type ResolvedFlag,
  variantBucketOf,
} from "../../../src/core/index.js";

const N = 100_000;
const ids = Array.from({ length: N }, (_, i) => `user-${i}`);
// Chi-square critical values at p = 0.001.
const CHI2_001: Record<number, number> = { 1: 10.828, 2: 13.816, 99: 148.23 };

function doc(flags: Record<string, Partial<ResolvedFlag>>): FlagDocument {
  const full = Object.fromEntries(
    Object.entries(flags).map(([k, f]) => [
      k,
      { enabled: true, killed: false, percent: 0, allowedUsers: [], revision: "r", ...f },
    ]),
  );
  return parseDocument({ version: 1, revision: "d", namespace: "ns", flags: full });
}

/** Pearson chi-square statistic of a contingency table (rows x cols). */
function contingencyChi2(table: number[][]): number {
  const rows = table.map((r) => r.reduce((a, b) => a + b, 0));
  const cols = (table[0] as number[]).map((_, j) => table.reduce((a, r) => a + (r[j] as number), 0));
  const total = rows.reduce((a, b) => a + b, 0);
  let chi = 0;
  table.forEach((r, i) => {
    r.forEach((o, j) => {
      const e = ((rows[i] as number) * (cols[j] as number)) / total;
      chi += ((o - e) * (o - e)) / e;
    });
  });
  return chi;
}

const percentArb = fc.integer({ min: 0, max: 10000 }).map((n) => n / 100);
const userArb = fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 });
const keyArb = fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/);

// 100,000-id statistics: seconds of hashing, more when the suite runs files in parallel.
describe("properties", { timeout: 30_000 }, () => {
  it("determinism: same document, flag and user -> same details", () => {
    fc.assert(
      fc.property(keyArb, userArb, percentArb, (key, user, percent) => {
        const a = evaluate(doc({ [key]: { percent } }), key, { targetingKey: user });
        const b = evaluate(doc({ [key]: { percent } }), key, { targetingKey: user });
        expect(b).toEqual(a);
      }),
      { numRuns: 300 },
    );
  });

  it("monotonic ramps: a user on at p stays on at every q > p", () => {
    fc.assert(
      fc.property(keyArb, userArb, percentArb, percentArb, (key, user, p1, p2) => {
        const [lo, hi] = p1 <= p2 ? [p1, p2] : [p2, p1];
        const at = (p: number) => evaluate(doc({ [key]: { percent: p } }), key, { targetingKey: user }).value;
        if (at(lo) === true) expect(at(hi)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("the whole ramp 1 -> 5 -> 25 -> 50 -> 100 only ever adds users", () => {
    const steps = [1, 5, 25, 50, 100].map((p) => doc({ "new-checkout": { percent: p } }));
    const dropped: string[] = [];
    for (const id of ids.slice(0, 20_000)) {
      let wasOn = false;
      for (const d of steps) {
        const on = evaluate(d, "new-checkout", { targetingKey: id }).value === true;
        if (wasOn && !on) dropped.push(id);
        wasOn = on;
      }
    }
    expect(dropped).toEqual([]);
  });

  it("uniformity: on-share matches the percent at 1/5/25/50 % (chi-square, 100,000 ids)", () => {
    for (const key of ["new-checkout", "dark-mode"]) {
      const fine = ids.map((id) => fineBucketOf(key, id));
      for (const p of [1, 5, 25, 50]) {
        const on = fine.filter((f) => f < p * 100).length;
        const eOn = (N * p) / 100;
        const eOff = N - eOn;
        const chi = (on - eOn) ** 2 / eOn + (N - on - eOff) ** 2 / eOff;
        expect(chi, `${key} at ${p} %: ${on} on`).toBeLessThan(CHI2_001[1] as number);
      }
      // And the 100 whole-percent buckets are uniform.
      const counts = new Array<number>(100).fill(0);
      for (const f of fine) counts[Math.floor(f / 100)] = (counts[Math.floor(f / 100)] as number) + 1;
      const chi = counts.reduce((a, o) => a + (o - N / 100) ** 2 / (N / 100), 0);
      expect(chi).toBeLessThan(CHI2_001[99] as number);
    }
  });

  it("per-flag independence: membership in one flag says nothing about another", () => {
    const a = ids.map((id) => Math.floor(fineBucketOf("flag-a", id) / 1000)); // deciles
    const b = ids.map((id) => Math.floor(fineBucketOf("flag-b", id) / 1000));
    const table = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
    a.forEach((x, i) => {
      const row = table[x] as number[];
      row[b[i] as number] = (row[b[i] as number] as number) + 1;
    });
    expect(contingencyChi2(table)).toBeLessThan(124.84); // chi-square, 81 dof, p = 0.001
  });

  it("variant/rollout independence: variant shares are the same in and out of the rollout", () => {
    const variants = [
      { name: "a", weight: 20 },
      { name: "b", weight: 30 },
      { name: "c", weight: 50 },
    ];
    const rollout = doc({ exp: { percent: 50, variants } });
    const everyone = doc({ exp: { percent: 100, variants } });
    const idx = new Map(variants.map((v, i) => [v.name, i]));
    const table = [
      [0, 0, 0],
      [0, 0, 0],
    ];
    for (const id of ids) {
      const inRollout = evaluate(rollout, "exp", { targetingKey: id }).value !== undefined ? 1 : 0;
      const v = idx.get(evaluate(everyone, "exp", { targetingKey: id }).variant as string) as number;
      const row = table[inRollout] as number[];
      row[v] = (row[v] as number) + 1;
    }
    expect(contingencyChi2(table)).toBeLessThan(CHI2_001[2] as number);
    // The on-users split by weight (goodness of fit, 2 dof).
    const on = table[1] as number[];
    const n = on.reduce((x, y) => x + y, 0);
    const chi = variants.reduce((acc, v, i) => {
      const e = (n * v.weight) / 100;
      return acc + ((on[i] as number) - e) ** 2 / e;
    }, 0);
    expect(chi).toBeLessThan(CHI2_001[2] as number);
  });

  it("the independence test has power: a variant drawn from the rollout hash is caught", () => {
    // What the independent "<key>/variant:<user>" input avoids: variant = low rollout buckets.
    const dependent = [
      [0, 0],
      [0, 0],
    ];
    for (const id of ids.slice(0, 20_000)) {
      const f = fineBucketOf("exp", id);
      const row = dependent[f < 5000 ? 1 : 0] as number[];
      const v = f < 3000 ? 0 : 1;
      row[v] = (row[v] as number) + 1;
    }
    expect(contingencyChi2(dependent)).toBeGreaterThan(1000);
    expect(variantBucketOf("exp", "user-0")).not.toBe(fineBucketOf("exp", "user-0"));
  });
});
