// Who may use the dashboard server, checked on every request before any route runs:
// - Host: every request must name this server (loopback names or the bound address), so a DNS
//   rebinding page (evil.example resolving to 127.0.0.1) cannot reach it through the browser.
// - Session: the URL the command prints carries a one-time login secret; the server exchanges it,
//   once, for an HttpOnly, SameSite=Strict session cookie and redirects to the clean address. The
//   page, its assets, every API read, the event stream and every write need that cookie, so
//   another process on the machine (which can connect to the port but never saw the secret) and
//   another browser profile get 401 and nothing else.
// - Writes (controls, evaluations) also need an Origin equal to the server's own, so a page of
//   another origin in the same browser (another port of 127.0.0.1 is the same site, so it may
//   carry the cookie) cannot kill a flag.
import { createHash, randomBytes } from "node:crypto";
import { BlockList, isIP } from "node:net";
import type { NextFunction, Request, Response } from "express";
import type { Logger } from "pino";
import { tokenMatches } from "../token.js";

/** The query parameter of the printed URL that carries the login secret. */
export const LOGIN_PARAM = "login";

/** 32 random bytes, base64url: login secrets and session ids. */
export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

const LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"];

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** 127.0.0.0/8, ::1 (IPv4-mapped forms too) and `localhost`: addresses only this machine reaches. */
export function isLoopbackAddress(address: string): boolean {
  const bare = address.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (bare === "localhost") return true;
  const family = isIP(bare);
  return family !== 0 && LOOPBACK.check(bare, family === 6 ? "ipv6" : "ipv4");
}

export const INSECURE_LISTEN_FLAG = "--insecure-listen-any";

/**
 * Whether the dashboard may bind `address`: loopback always; anything else only with
 * --insecure-listen-any, and then with a warning for stderr. Throws naming the flag otherwise.
 */
export function listenPolicy(address: string, insecureListenAny: boolean): { warning?: string } {
  if (isLoopbackAddress(address)) return {};
  if (!insecureListenAny) {
    throw new Error(
      `--address ${address} is not a loopback address: anyone who can reach it could try to drive ` +
        `the dashboard with your cluster credentials, over plain HTTP. Pass ${INSECURE_LISTEN_FLAG} ` +
        "to bind it anyway, or reach a loopback dashboard through an SSH tunnel (ssh -L).",
    );
  }
  return {
    warning:
      `warning: ${INSECURE_LISTEN_FLAG}: the dashboard listens on ${address}, reachable from other ` +
      "machines. It acts with your kubeconfig's credentials; the login link and the session cookie " +
      "travel unencrypted (plain HTTP), so anyone who can see the traffic can take the session.\n",
  };
}

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

const digest = (value: string) => createHash("sha256").update(value).digest();

/** Values of the cookie `name` in a Cookie header (a browser may send the same name twice). */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (header === undefined) return [];
  return header
    .split(";")
    .map((part) => part.trim())
    .filter((part) => part.startsWith(`${name}=`))
    .map((part) => part.slice(name.length + 1));
}

/**
 * The login secret of one server and the sessions it was exchanged for. The secret works once;
 * sessions last as long as the server. Only digests are kept, so looking one up takes the same
 * time however much of a guess is right.
 */
export class DashboardSessions {
  readonly loginSecret = newSecret();
  /** Per port: cookies do not tell ports apart, and two dashboards on one machine must not mix. */
  readonly cookieName: string;
  private redeemed = false;
  private readonly sessions = new Set<string>();

  constructor(port: number) {
    this.cookieName = `flagwright_dashboard_${port}`;
  }

  /** A new session id for the right, unused secret; undefined for anything else. */
  redeem(secret: string): string | undefined {
    if (this.redeemed || !tokenMatches(secret, this.loginSecret)) return undefined;
    this.redeemed = true;
    const id = newSecret();
    this.sessions.add(digest(id).toString("hex"));
    return id;
  }

  get loginUsed(): boolean {
    return this.redeemed;
  }

  /** Whether the request's Cookie header holds a session of this server. */
  authenticated(cookieHeader: string | undefined): boolean {
    return cookieValues(cookieHeader, this.cookieName).some((v) =>
      this.sessions.has(digest(v).toString("hex")),
    );
  }

  /**
   * The Set-Cookie value for a session: HttpOnly (page scripts never see it), SameSite=Strict
   * (no other site's page or link sends it), no Max-Age (gone when the browser closes). Not
   * Secure: the dashboard speaks plain HTTP on loopback, which browsers treat as trustworthy.
   */
  setCookie(id: string): string {
    return `${this.cookieName}=${id}; Path=/; HttpOnly; SameSite=Strict`;
  }
}

export type CheckResult = { ok: true } | { ok: false; status: 401 | 403 | 421; reason: string };

export interface RequestFacts {
  method: string;
  host: string | undefined;
  origin: string | undefined;
  cookie: string | undefined;
}

export function checkHost(host: string | undefined, allowed: ReadonlySet<string>): CheckResult {
  if (!hostAllowed(host, allowed)) {
    return { ok: false, status: 421, reason: `Host "${host ?? ""}" is not this dashboard` };
  }
  return { ok: true };
}

const NO_SESSION =
  "no dashboard session: open the login URL that kubectl flagwright dashboard printed (it works once)";

/**
 * Any request but the login exchange: the right Host, a session cookie and, for anything but
 * GET and HEAD, an Origin equal to the server's own.
 */
export function checkRequest(
  req: RequestFacts,
  allowed: ReadonlySet<string>,
  sessions: DashboardSessions,
): CheckResult {
  const host = checkHost(req.host, allowed);
  if (!host.ok) return host;
  if (!sessions.authenticated(req.cookie)) return { ok: false, status: 401, reason: NO_SESSION };
  if (req.method === "GET" || req.method === "HEAD") return { ok: true };
  if (req.origin === undefined || req.origin !== `http://${req.host?.toLowerCase()}`) {
    return { ok: false, status: 403, reason: `cross-origin request refused (Origin "${req.origin ?? ""}")` };
  }
  return { ok: true };
}

/** A short HTML answer for a browser that has no session (no scripts, nothing from the cluster). */
function refusalPage(message: string): string {
  const text = message.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Flagwright dashboard: sign-in needed</title>' +
    `</head><body><h1>Flagwright dashboard</h1><p>${text}</p></body></html>\n`
  );
}

export interface Guard {
  /** The URL to print: the server's address with the one-time login secret. */
  loginUrl: string;
  sessions: DashboardSessions;
  middleware(req: Request, res: Response, next: NextFunction): void;
}

/**
 * The checks above as express middleware for a server listening on `address`:`port`. A GET of
 * `/?login=SECRET` with the unused secret sets the session cookie and redirects (303) to `/`;
 * one from a browser that already has the session just redirects; any other use of a login
 * secret is refused. Every answer, refusals included, is `Cache-Control: no-store`.
 */
export function dashboardGuard(options: {
  address: string;
  port: number;
  allowHosts?: readonly string[];
  log: Logger;
}): Guard {
  const { port, log } = options;
  const hosts = allowedHosts(options.address, port, options.allowHosts);
  const sessions = new DashboardSessions(port);
  // An unspecified bind address has no name of its own; loopback reaches it from this machine.
  const name = options.address === "0.0.0.0" || options.address === "::" ? "127.0.0.1" : options.address;
  const shown = name.includes(":") ? `[${name}]` : name;
  const loginUrl = `http://${shown}:${port}/?${LOGIN_PARAM}=${sessions.loginSecret}`;

  const refuse = (req: Request, res: Response, status: number, reason: string) =>
    refuseRequest(log, req, res, status, reason);
  const middleware = (req: Request, res: Response, next: NextFunction) => {
    res.setHeader("cache-control", "no-store");
    const facts: RequestFacts = {
      method: req.method,
      host: req.headers.host,
      origin: req.headers.origin,
      cookie: req.headers.cookie,
    };
    const login = req.query[LOGIN_PARAM];
    if (login !== undefined && req.method === "GET" && req.path === "/") {
      const host = checkHost(facts.host, hosts);
      if (!host.ok) return refuse(req, res, host.status, host.reason);
      return redeemLogin(sessions, login, facts.cookie, req, res, log);
    }
    const check = checkRequest(facts, hosts, sessions);
    if (!check.ok) return refuse(req, res, check.status, check.reason);
    next();
  };

  return { loginUrl, sessions, middleware };
}

/** A refusal, logged, as JSON for the API and writes, as a page for a browser's GET. */
function refuseRequest(log: Logger, req: Request, res: Response, status: number, reason: string): void {
  log.warn(
    { reason: "RequestRefused", method: req.method, path: req.path, status, err: reason },
    "request refused",
  );
  res.status(status);
  if (req.path.startsWith("/api/") || (req.method !== "GET" && req.method !== "HEAD")) {
    res.json({ error: { kind: status === 401 ? "unauthenticated" : "refused", message: reason } });
  } else {
    res.type("html").send(refusalPage(reason));
  }
}

/**
 * GET /?login=SECRET: the unused secret sets the session cookie, a browser that already has the
 * session is let through, anything else is refused; then a redirect (303) to the clean address.
 */
function redeemLogin(
  sessions: DashboardSessions,
  login: unknown,
  cookie: string | undefined,
  req: Request,
  res: Response,
  log: Logger,
): void {
  if (!sessions.authenticated(cookie)) {
    const id = typeof login === "string" ? sessions.redeem(login) : undefined;
    if (id === undefined) {
      refuseRequest(
        log,
        req,
        res,
        401,
        sessions.loginUsed
          ? "This login link was used already, and works only once. Use the browser that opened it, " +
              "or restart kubectl flagwright dashboard for a new link."
          : "This login link is not the one kubectl flagwright dashboard printed.",
      );
      return;
    }
    res.setHeader("set-cookie", sessions.setCookie(id));
    log.info({ reason: "LoggedIn" }, "browser signed in with the login URL");
  }
  // The clean address: the secret leaves the address bar (the hash, if any, is kept).
  res.redirect(303, "/");
}
