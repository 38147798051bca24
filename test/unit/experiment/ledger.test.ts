// The experiment ledger (counts that never fall when series come and go) and the verdict latch.
import { describe, expect, it } from "vitest";
import type { ExperimentResult } from "../../../src/experiment/analysis.js";
import {
  accumulateCounter,
  type CounterLedger,
  FORGET_SERIES_AFTER_SECONDS,
  LedgerLimitError,
  latchVerdict,
  ledgerFrom,
  lookWindowSeconds,
  MAX_SERIES_PER_COUNTER,
  resetWindowMs,
  seriesId,
} from "../../../src/operator/experiment-ledger.js";

const pod = (name: string, value: number) => ({ labels: { pod: name, variant: "control" }, value });
const none = new Map<string, number>();

/** Runs looks in sequence (one per minute), returning the total after each. */
function totals(looks: { labels: Record<string, string>; value: number }[][]): number[] {
  let ledger: CounterLedger | undefined;
  return looks.map((observed, i) => {
    ledger = accumulateCounter(ledger, observed, none, 60 * i);
    return ledger.total;
  });
}

describe("accumulateCounter", () => {
  it("counts a new series whole and a known one by what it grew", () => {
    expect(totals([[pod("a", 100)], [pod("a", 130)], [pod("a", 130)]])).toEqual([100, 130, 130]);
  });

  it("keeps what a series counted after it disappears, and counts its replacement whole", () => {
    // A rolling deploy: a and b are replaced by c and d, one at a time.
    const seen = totals([
      [pod("a", 100), pod("b", 100)],
      [pod("b", 120), pod("c", 5)],
      [pod("c", 30), pod("d", 2)],
      [pod("c", 31), pod("d", 2)],
    ]);
    expect(seen).toEqual([200, 225, 252, 253]);
    // The live sum (what sum() in Prometheus answers) falls twice on the way.
    expect([200, 125, 32, 33]).not.toEqual(seen);
  });

  it("counts a reset series (a restarted process, same labels) from zero", () => {
    expect(totals([[pod("a", 100)], [pod("a", 7)], [pod("a", 20)]])).toEqual([100, 107, 120]);
  });

  it("counts a restart whose new counter already passed the old value, when resets() saw it", () => {
    const first = accumulateCounter(undefined, [pod("a", 100)], none, 0);
    const missed = accumulateCounter(first, [pod("a", 150)], none, 60);
    const seen = accumulateCounter(first, [pod("a", 150)], new Map([[seriesId(pod("a", 0).labels), 1]]), 60);
    expect(missed.total).toBe(150);
    expect(seen.total).toBe(250);
  });

  it("recovers what the old process counted after the previous look from its peak, never counting twice", () => {
    const first = accumulateCounter(undefined, [pod("a", 100)], none, 0);
    const id = seriesId(pod("a", 0).labels);
    // The old process reached 130 after the look, then restarted and counted 7.
    expect(accumulateCounter(first, [pod("a", 7)], new Map([[id, 1]]), 60, new Map([[id, 130]])).total).toBe(
      137,
    );
    // The new process already passed the old one's peak: only its own count is known.
    expect(
      accumulateCounter(first, [pod("a", 150)], new Map([[id, 1]]), 60, new Map([[id, 150]])).total,
    ).toBe(250);
  });

  it("does not count a series twice when it comes back after a scrape outage", () => {
    expect(totals([[pod("a", 100)], [], [], [pod("a", 110)]])).toEqual([100, 100, 100, 110]);
  });

  it("forgets a series that has been gone longer than the retention, and bounds what it keeps", () => {
    const first = accumulateCounter(undefined, [pod("a", 100)], none, 0);
    expect(first.series).toHaveLength(1);
    const later = accumulateCounter(first, [], none, FORGET_SERIES_AFTER_SECONDS + 1);
    expect(later.series).toEqual([]);
    expect(later.total).toBe(100);

    // Gone series give way to live ones when the bound is reached, oldest first.
    let ledger: CounterLedger | undefined;
    for (let wave = 0; wave < 3; wave++) {
      const live = Array.from({ length: MAX_SERIES_PER_COUNTER / 2 }, (_, i) => pod(`w${wave}-${i}`, 1));
      ledger = accumulateCounter(ledger, live, none, wave);
    }
    expect(ledger?.series).toHaveLength(MAX_SERIES_PER_COUNTER);
    expect(ledger?.total).toBe((3 * MAX_SERIES_PER_COUNTER) / 2);
    expect(ledger?.series.some(([, , seenAt]) => seenAt === 0)).toBe(false);
  });

  it("refuses more live series than it can follow, naming the limit", () => {
    const many = Array.from({ length: MAX_SERIES_PER_COUNTER + 1 }, (_, i) => pod(`p${i}`, 1));
    expect(() => accumulateCounter(undefined, many, none, 0)).toThrow(LedgerLimitError);
    expect(() => accumulateCounter(undefined, many, none, 0)).toThrow(/more than the 500/);
  });

  it("ignores values that are not counts", () => {
    expect(
      totals([[pod("a", Number.NaN), pod("b", -3), pod("c", Number.POSITIVE_INFINITY), pod("d", 4)]]),
    ).toEqual([4]);
  });
});

describe("look windows and the stored ledger", () => {
  const now = new Date("2026-12-01T12:00:00Z");
  const stored = (through: string) => ({ through, variants: [] });

  it("reads back to shortly before the previous look, within a bound", () => {
    expect(lookWindowSeconds(undefined, now)).toBe(300);
    expect(lookWindowSeconds(stored("2026-12-01T11:59:00Z"), now)).toBe(360);
    expect(lookWindowSeconds(stored("2026-11-01T00:00:00Z"), now)).toBe(24 * 3600);
    expect(resetWindowMs(undefined, now)).toBeUndefined();
    expect(resetWindowMs(stored("2026-12-01T11:59:00Z"), now)).toBe(60_000);
    expect(resetWindowMs(stored("2026-12-01T12:00:00Z"), now)).toBeUndefined();
  });

  it("takes only well-formed entries from a stored ledger (status can be edited by hand)", () => {
    expect(ledgerFrom(undefined)).toBeUndefined();
    expect(ledgerFrom({ ledger: { through: "yesterday", variants: [] } })).toBeUndefined();
    const good = { total: 5, series: [["abc", 5, 10], ["bad"], ["x", "1", 2]] };
    expect(
      ledgerFrom({
        ledger: {
          through: "2026-12-01T11:59:00Z",
          variants: [
            { name: "control", key: "k", exposures: good, conversions: good },
            { name: "treatment", key: "k", exposures: { total: -1, series: [] }, conversions: good },
          ],
        },
      }),
    ).toEqual({
      through: "2026-12-01T11:59:00Z",
      variants: [
        {
          name: "control",
          key: "k",
          exposures: { total: 5, series: [["abc", 5, 10]] },
          conversions: { total: 5, series: [["abc", 5, 10]] },
        },
      ],
    });
  });
});

describe("latchVerdict", () => {
  const at = new Date("2026-12-01T12:00:00Z");
  const result = (verdict: ExperimentResult["verdict"], winner?: string) =>
    ({
      verdict,
      message: `${verdict} ${winner ?? ""}`.trim(),
      ...(winner !== undefined && { winner }),
      variants: [{ name: "control" }, { name: "treatment" }],
    }) as unknown as ExperimentResult;

  it("records a Significant verdict with its winner and generation", () => {
    expect(latchVerdict(result("Significant", "treatment"), undefined, 3, at).latch).toEqual({
      generation: 3,
      winner: "treatment",
      message: "Significant treatment",
      at: at.toISOString(),
    });
    expect(latchVerdict(result("Collecting"), undefined, 3, at).latch).toBeUndefined();
  });

  it("never goes back to Collecting nor changes the winner later in the same generation", () => {
    const latch = latchVerdict(result("Significant", "treatment"), undefined, 3, at).latch;
    for (const later of [
      result("Collecting"),
      result("NotSignificant"),
      result("Significant", "control"),
      result("SampleRatioMismatch"),
    ]) {
      const held = latchVerdict(later, latch, 3, new Date("2026-12-01T13:00:00Z"));
      expect(held.verdict).toBe("Significant");
      expect(held.winner).toBe("treatment");
      expect(held.latch).toEqual(latch);
      expect(held.message).toContain("held until the spec changes");
      expect(held.warnings?.at(-1)).toMatch(/^the latest look alone reads /);
    }
    expect(latchVerdict(result("Significant", "treatment"), latch, 3, at).warnings).toBeUndefined();
  });

  it("ignores a latch naming no variant of the experiment (status edited by hand)", () => {
    const forged = { generation: 3, winner: "ghost", message: "m", at: at.toISOString() };
    expect(latchVerdict(result("Collecting"), forged, 3, at)).toMatchObject({ verdict: "Collecting" });
  });

  it("decides afresh in a new generation", () => {
    const latch = latchVerdict(result("Significant", "treatment"), undefined, 3, at).latch;
    const fresh = latchVerdict(result("Collecting"), latch, 4, at);
    expect(fresh.verdict).toBe("Collecting");
    expect(fresh.latch).toBeUndefined();
    expect(latchVerdict(result("Significant", "control"), latch, 4, at)).toMatchObject({
      winner: "control",
      latch: { generation: 4, winner: "control" },
    });
  });
});
