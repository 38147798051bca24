// The one comparison of secrets (bearer tokens, the dashboard's login secret): both sides are
// hashed first, so it takes the same time whatever the lengths and contents, and an empty
// expected secret matches nothing.
import { createHash, timingSafeEqual } from "node:crypto";

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/** A check against `expected`, hashed once (for per-request use). */
export function tokenMatcher(expected: string): (given: string) => boolean {
  const wanted = digest(expected);
  const usable = expected.length > 0;
  return (given) => timingSafeEqual(digest(given), wanted) && usable;
}

/** Whether `given` equals `expected`, in constant time. */
export function tokenMatches(given: string, expected: string): boolean {
  return tokenMatcher(expected)(given);
}
