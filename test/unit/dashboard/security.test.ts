// The dashboard's request checks: Host against DNS rebinding, the one-time login secret and the
// session cookie it is exchanged for against other clients, Origin against cross-origin writes,
// and which addresses it may bind. The guard is also driven over real HTTP (an express app on
// 127.0.0.1 with stand-in routes), so headers are checked as a browser would see them.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  allowedHosts,
  checkHost,
  checkRequest,
  cookieValues,
  DashboardSessions,
  dashboardGuard,
  type Guard,
  isLoopbackAddress,
  listenPolicy,
  newSecret,
} from "../../../src/dashboard/security.js";

describe("allowedHosts", () => {
  it("accepts loopback names with the port, and the bound address when it names one", () => {
    expect([...allowedHosts("127.0.0.1", 3100)].sort()).toEqual([
      "127.0.0.1:3100",
      "[::1]:3100",
      "localhost:3100",
    ]);
    expect(allowedHosts("10.0.0.5", 80).has("10.0.0.5:80")).toBe(true);
    expect(allowedHosts("::1", 80).has("[::1]:80")).toBe(true);
    expect(allowedHosts("0.0.0.0", 80).has("0.0.0.0:80")).toBe(false);
    expect(allowedHosts("0.0.0.0", 80, ["dash.internal"]).has("dash.internal:80")).toBe(true);
  });
});

describe("checkHost", () => {
  const hosts = allowedHosts("127.0.0.1", 3100);
  it("refuses a rebinding name, another port and a missing Host", () => {
    expect(checkHost("127.0.0.1:3100", hosts)).toEqual({ ok: true });
    expect(checkHost("LOCALHOST:3100", hosts)).toEqual({ ok: true });
    for (const host of ["evil.example:3100", "127.0.0.1:3101", "127.0.0.1", undefined]) {
      expect(checkHost(host, hosts)).toMatchObject({ ok: false, status: 421 });
    }
  });
});

describe("DashboardSessions", () => {
  it("exchanges the login secret for a session once, and never a wrong one", () => {
    const sessions = new DashboardSessions(3100);
    expect(sessions.loginSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sessions.redeem(newSecret())).toBeUndefined();
    expect(sessions.redeem(sessions.loginSecret.slice(1))).toBeUndefined();
    expect(sessions.redeem("")).toBeUndefined();
    expect(sessions.loginUsed).toBe(false);
    const id = sessions.redeem(sessions.loginSecret);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(id).not.toBe(sessions.loginSecret);
    expect(sessions.loginUsed).toBe(true);
    // The second use gets nothing.
    expect(sessions.redeem(sessions.loginSecret)).toBeUndefined();
  });

  it("knows its own sessions by cookie, named per port, and nothing else", () => {
    const sessions = new DashboardSessions(3100);
    const id = sessions.redeem(sessions.loginSecret) ?? "";
    expect(sessions.cookieName).toBe("flagwright_dashboard_3100");
    expect(sessions.authenticated(`flagwright_dashboard_3100=${id}`)).toBe(true);
    expect(sessions.authenticated(`a=b; flagwright_dashboard_3100=${id}; c=d`)).toBe(true);
    // A stale cookie of the same name next to the live one (another server once on this port).
    expect(sessions.authenticated(`flagwright_dashboard_3100=old; flagwright_dashboard_3100=${id}`)).toBe(
      true,
    );
    for (const header of [
      undefined,
      "",
      `flagwright_dashboard_3101=${id}`,
      `flagwright_dashboard_3100=${newSecret()}`,
      `flagwright_dashboard_3100=${sessions.loginSecret}`,
      `flagwright_dashboard_3100=${id.slice(1)}`,
      `xflagwright_dashboard_3100=${id}`,
    ]) {
      expect(sessions.authenticated(header), String(header)).toBe(false);
    }
  });

  it("sets an HttpOnly, SameSite=Strict session cookie for the whole server", () => {
    const sessions = new DashboardSessions(8080);
    const cookie = sessions.setCookie("abc");
    expect(cookie.split("; ")).toEqual([
      "flagwright_dashboard_8080=abc",
      "Path=/",
      "HttpOnly",
      "SameSite=Strict",
    ]);
  });

  it("parses Cookie headers", () => {
    expect(cookieValues("a=1; b=2;  a=3", "a")).toEqual(["1", "3"]);
    expect(cookieValues(undefined, "a")).toEqual([]);
    expect(cookieValues("ab=1", "a")).toEqual([]);
  });
});

describe("checkRequest", () => {
  const hosts = allowedHosts("127.0.0.1", 3100);
  const sessions = new DashboardSessions(3100);
  const cookie = `${sessions.cookieName}=${sessions.redeem(sessions.loginSecret)}`;
  const read = { method: "GET", host: "127.0.0.1:3100", origin: undefined, cookie };
  const write = { ...read, method: "POST", origin: "http://127.0.0.1:3100" };

  it("lets the session's own reads and same-origin writes through", () => {
    expect(checkRequest(read, hosts, sessions)).toEqual({ ok: true });
    expect(checkRequest({ ...read, method: "HEAD" }, hosts, sessions)).toEqual({ ok: true });
    expect(checkRequest(write, hosts, sessions)).toEqual({ ok: true });
  });

  it("answers 401 to reads and writes without the session, even with the right Host and Origin", () => {
    for (const req of [read, write]) {
      for (const bad of [undefined, `${sessions.cookieName}=${newSecret()}`, "other=1"]) {
        const result = checkRequest({ ...req, cookie: bad }, hosts, sessions);
        expect(result).toMatchObject({ ok: false, status: 401 });
        expect(result.ok || result.reason).toContain("login URL");
      }
    }
  });

  it("refuses writes from another origin or without one (403), and any foreign Host (421)", () => {
    for (const origin of [
      "https://evil.example",
      "http://127.0.0.1:3101",
      "http://localhost:3100",
      undefined,
    ]) {
      expect(checkRequest({ ...write, origin }, hosts, sessions)).toMatchObject({ ok: false, status: 403 });
    }
    expect(
      checkRequest(
        { ...write, host: "evil.example:3100", origin: "http://evil.example:3100" },
        hosts,
        sessions,
      ),
    ).toMatchObject({ ok: false, status: 421 });
    expect(checkRequest({ ...read, host: "evil.example:3100" }, hosts, sessions)).toMatchObject({
      status: 421,
    });
  });
});

describe("listenPolicy", () => {
  it("knows loopback addresses", () => {
    for (const a of [
      "127.0.0.1",
      "127.1.2.3",
      "::1",
      "[::1]",
      "0:0:0:0:0:0:0:1",
      "::ffff:127.0.0.1",
      "localhost",
    ]) {
      expect(isLoopbackAddress(a), a).toBe(true);
    }
    for (const a of [
      "0.0.0.0",
      "::",
      "10.0.0.5",
      "192.168.1.2",
      "::ffff:10.0.0.1",
      "fe80::1",
      "dash.internal",
    ]) {
      expect(isLoopbackAddress(a), a).toBe(false);
    }
  });

  it("binds loopback silently, refuses anything else naming the flag, and warns when it is given", () => {
    expect(listenPolicy("127.0.0.1", false)).toEqual({});
    expect(listenPolicy("::1", true)).toEqual({});
    for (const address of ["0.0.0.0", "::", "10.0.0.5"]) {
      expect(() => listenPolicy(address, false)).toThrow(/--insecure-listen-any/);
      const { warning } = listenPolicy(address, true);
      expect(warning).toMatch(/^warning: --insecure-listen-any: the dashboard listens on /);
      expect(warning).toContain(address);
      expect(warning).toContain("plain HTTP");
    }
  });
});

describe("dashboardGuard over HTTP", () => {
  let server: Server;
  let guard: Guard;
  let base = "";
  let port = 0;
  const writes: string[] = [];

  beforeAll(async () => {
    const app = express();
    app.use((req, res, next) => guard.middleware(req, res, next));
    app.get("/", (_req, res) => {
      res.type("html").send("<p>the dashboard</p>");
    });
    app.get("/api/flags", (_req, res) => {
      res.json({ rows: [{ key: "payments" }] });
    });
    app.get("/api/events", (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end("event: hello\ndata: {}\n\n");
    });
    app.post("/api/flags/shop/payments/controls/kill", (_req, res) => {
      writes.push("kill");
      res.json({ killed: true });
    });
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, resolve));
    port = (server.address() as AddressInfo).port;
    guard = dashboardGuard({ address: "127.0.0.1", port, log: pino({ level: "silent" }) });
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const get = (path: string, cookie?: string) =>
    fetch(`${base}${path}`, { redirect: "manual", headers: cookie ? { cookie } : {} });
  const kill = (headers: Record<string, string>) =>
    fetch(`${base}/api/flags/shop/payments/controls/kill`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: "{}",
    });

  it("prints a login URL with the secret; the page, reads, the stream and writes answer 401 before it is used", async () => {
    expect(guard.loginUrl).toBe(`${base}/?login=${guard.sessions.loginSecret}`);
    for (const path of ["/", "/api/flags", "/api/events", "/static/app.js"]) {
      const res = await get(path);
      expect(res.status, path).toBe(401);
      expect(res.headers.get("cache-control"), path).toBe("no-store");
      const body = await res.text();
      expect(body, path).not.toContain("payments");
      expect(body, path).not.toContain("the dashboard</p>");
    }
    const api = await get("/api/flags");
    expect(api.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await api.json()).toMatchObject({ error: { kind: "unauthenticated" } });
    const write = await kill({ origin: base });
    expect(write.status).toBe(401);
    expect(writes).toEqual([]);
  });

  let cookie = "";

  it("exchanges the secret once for the session cookie and redirects to the clean address", async () => {
    const login = await fetch(guard.loginUrl, { redirect: "manual" });
    expect(login.status).toBe(303);
    expect(login.headers.get("location")).toBe("/");
    expect(login.headers.get("cache-control")).toBe("no-store");
    const setCookie = login.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(
      new RegExp(`^flagwright_dashboard_${port}=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict$`),
    );
    expect(setCookie).not.toContain(guard.sessions.loginSecret);
    cookie = setCookie.split(";")[0] ?? "";

    // Used again without the session (another browser, another process): refused, no cookie.
    const again = await fetch(guard.loginUrl, { redirect: "manual" });
    expect(again.status).toBe(401);
    expect(again.headers.get("set-cookie")).toBeNull();
    expect(await again.text()).toContain("used already");
    // From the browser that has the session: back to the clean address, no new session.
    const same = await get(`/?login=${guard.sessions.loginSecret}`, cookie);
    expect(same.status).toBe(303);
    expect(same.headers.get("set-cookie")).toBeNull();
    // A wrong secret, or several, is refused too.
    expect((await get(`/?login=${newSecret()}`)).status).toBe(401);
    expect((await get(`/?login=a&login=b`)).status).toBe(401);
  });

  it("serves the page, reads and the stream to the session, with Cache-Control: no-store", async () => {
    for (const path of ["/", "/api/flags", "/api/events"]) {
      const res = await get(path, cookie);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("cache-control"), path).toBe("no-store");
      await res.text();
    }
  });

  it("takes a write only with the session and the server's own Origin", async () => {
    expect((await kill({ cookie })).status).toBe(403);
    expect((await kill({ cookie, origin: "http://127.0.0.1:1" })).status).toBe(403);
    expect((await kill({ cookie: `flagwright_dashboard_${port}=${newSecret()}`, origin: base })).status).toBe(
      401,
    );
    expect(writes).toEqual([]);
    const ok = await kill({ cookie, origin: base });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("cache-control")).toBe("no-store");
    expect(writes).toEqual(["kill"]);
  });

  it("shows a loopback name in the login URL when bound to every interface", () => {
    const any = dashboardGuard({ address: "0.0.0.0", port: 3100, log: pino({ level: "silent" }) });
    expect(any.loginUrl).toMatch(/^http:\/\/127\.0\.0\.1:3100\/\?login=[A-Za-z0-9_-]{43}$/);
    const v6 = dashboardGuard({ address: "::1", port: 3100, log: pino({ level: "silent" }) });
    expect(v6.loginUrl).toMatch(/^http:\/\/\[::1\]:3100\/\?login=/);
  });
});
