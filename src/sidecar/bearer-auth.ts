// The shared evaluator's bearer-token check. Loaded only when a token is configured, so a
// per-pod sidecar does not load node:crypto (about 1.2 MiB of resident memory).
import { createHash, timingSafeEqual } from "node:crypto";

/** Whether an Authorization header carries `Bearer <token>`, compared in constant time. */
export function bearerTokenCheck(token: string): (authorization: string | undefined) => boolean {
  // Compared as digests: equal length, constant time, whatever the caller sends.
  const digest = (text: string) => createHash("sha256").update(text).digest();
  const expected = digest(`Bearer ${token}`);
  return (authorization) => authorization !== undefined && timingSafeEqual(digest(authorization), expected);
}
