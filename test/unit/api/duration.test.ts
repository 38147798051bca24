import { describe, expect, it } from "vitest";
import { parseDuration } from "../../../src/api/duration.js";

describe("parseDuration", () => {
  it.each([
    ["0s", 0],
    ["250ms", 250],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h30m", 5_400_000],
    ["90d", 90 * 86_400_000],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "5", "5 minutes", "1.5h", "-1s", "10y"])("rejects %j, quoting it", (text) => {
    expect(() => parseDuration(text)).toThrow(`invalid duration "${text}"`);
  });
});
