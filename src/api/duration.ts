// Durations as the CRD writes them ("90s", "1h30m", "500ms"): parsed to milliseconds, with the
// schema's own pattern deciding what is valid.
import { DURATION_PATTERN } from "./schema.js";

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PART = /([0-9]+)(ms|s|m|h|d)/g;
const WHOLE = new RegExp(DURATION_PATTERN);

/** Parses the API's durations (30s, 5m, 1h30m, 90d) to milliseconds; throws naming the bad text. */
export function parseDuration(text: string): number {
  if (!WHOLE.test(text)) {
    throw new Error(`invalid duration "${text}": use a number and unit such as 30s, 5m, 1h30m or 90d`);
  }
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    total += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  }
  return total;
}
