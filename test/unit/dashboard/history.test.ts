// Experiments over time: Prometheus range series aligned per variant, rates where defined.
import { describe, expect, it } from "vitest";
import { historySeries } from "../../../src/dashboard/history.js";

describe("historySeries", () => {
  it("aligns every variant on the union of timestamps and divides conversions by exposures", () => {
    const history = historySeries([
      {
        name: "control",
        exposures: [
          [100, 0],
          [110, 50],
          [120, 100],
        ],
        conversions: [
          [110, 5],
          [120, 10],
        ],
      },
      {
        name: "urgent",
        exposures: [
          [120, 80],
          [130, 90],
        ],
        conversions: [
          [120, 100],
          [130, 9],
        ],
      },
    ]);
    expect(history.times).toEqual([100, 110, 120, 130]);
    expect(history.variants.map((v) => [v.name, v.rates])).toEqual([
      // 0 exposures and a missing conversion count have no rate.
      ["control", [null, 0.1, 0.1, null]],
      // More conversions than exposures (events, not users) is capped at 1, as the analysis does.
      ["urgent", [null, null, 1, 0.1]],
    ]);
    expect(history.variants[1]?.exposures).toEqual([null, null, 80, 90]);
  });

  it("is empty without data", () => {
    expect(historySeries([{ name: "a", exposures: [], conversions: [] }])).toEqual({
      times: [],
      variants: [{ name: "a", exposures: [], conversions: [], rates: [] }],
    });
  });
});
