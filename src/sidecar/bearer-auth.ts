// The shared evaluator's bearer-token check. Loaded only when a token is configured, so a
// per-pod sidecar does not load node:crypto (about 1.2 MiB of resident memory).
import { tokenMatcher } from "../token.js";

// The scheme is case-insensitive (RFC 7235 section 2.1), then one or more spaces before the token.
const BEARER_SCHEME = /^bearer +/i;

/** Whether an Authorization header carries `Bearer <token>`, the token compared in constant time. */
export function bearerTokenCheck(token: string): (authorization: string | undefined) => boolean {
  const matches = tokenMatcher(token);
  return (authorization) => {
    if (authorization === undefined) return false;
    const scheme = BEARER_SCHEME.exec(authorization);
    if (scheme === null) return false;
    return matches(authorization.slice(scheme[0].length));
  };
}
