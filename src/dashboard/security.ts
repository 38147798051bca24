// Request checks of the dashboard server, pure so they are unit tested:
// - Host: every request must name this server (loopback names or the bound address), so a DNS
//   rebinding page (evil.example resolving to 127.0.0.1) cannot read flags through the user's
//   credentials.
// - Writes (controls, evaluations): same Origin as the server and the per-server random token the
//   page was given in its HTML, so a cross-site form or fetch cannot kill a flag.
import { randomBytes, timingSafeEqual } from "node:crypto";

export const TOKEN_HEADER = "x-flagwright-token";

export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

const LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"];

/** Host header values that name this server: `name:port` for loopback names and the bound address. */
export function allowedHosts(address: string, port: number, extra: readonly string[] = []): Set<string> {
  const bound = address.includes(":") && !address.startsWith("[") ? `[${address}]` : address;
  const names = new Set([...LOOPBACK_NAMES, ...extra]);
  // An unspecified bind address answers on every interface; it still needs a name to be trusted.
  if (bound !== "0.0.0.0" && bound !== "[::]") names.add(bound);
  return new Set([...names].map((n) => `${n.toLowerCase()}:${port}`));
}

export function hostAllowed(host: string | undefined, allowed: ReadonlySet<string>): boolean {
  return host !== undefined && allowed.has(host.toLowerCase());
}

export interface WriteCheck {
  host: string | undefined;
  origin: string | undefined;
  token: string | undefined;
}

export type CheckResult = { ok: true } | { ok: false; status: 403 | 421; reason: string };

export function checkRead(host: string | undefined, allowed: ReadonlySet<string>): CheckResult {
  if (!hostAllowed(host, allowed)) {
    return { ok: false, status: 421, reason: `Host "${host ?? ""}" is not this dashboard` };
  }
  return { ok: true };
}

/** A state-changing request: right Host, an Origin equal to it, and the server's token. */
export function checkWrite(req: WriteCheck, allowed: ReadonlySet<string>, token: string): CheckResult {
  const read = checkRead(req.host, allowed);
  if (!read.ok) return read;
  if (req.origin === undefined || req.origin !== `http://${req.host?.toLowerCase()}`) {
    return { ok: false, status: 403, reason: `cross-origin request refused (Origin "${req.origin ?? ""}")` };
  }
  if (!tokenMatches(req.token, token)) {
    return { ok: false, status: 403, reason: `missing or wrong ${TOKEN_HEADER} header` };
  }
  return { ok: true };
}

function tokenMatches(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
