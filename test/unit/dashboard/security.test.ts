// The dashboard's request checks: Host against DNS rebinding, Origin and token against cross-site
// writes.
import { describe, expect, it } from "vitest";
import { allowedHosts, checkRead, checkWrite, newToken } from "../../../src/dashboard/security.js";

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

describe("checkRead", () => {
  const hosts = allowedHosts("127.0.0.1", 3100);
  it("refuses a rebinding name, another port and a missing Host", () => {
    expect(checkRead("127.0.0.1:3100", hosts)).toEqual({ ok: true });
    expect(checkRead("LOCALHOST:3100", hosts)).toEqual({ ok: true });
    for (const host of ["evil.example:3100", "127.0.0.1:3101", "127.0.0.1", undefined]) {
      expect(checkRead(host, hosts)).toMatchObject({ ok: false, status: 421 });
    }
  });
});

describe("checkWrite", () => {
  const hosts = allowedHosts("127.0.0.1", 3100);
  const token = newToken();
  const good = { host: "127.0.0.1:3100", origin: "http://127.0.0.1:3100", token };

  it("accepts the page's own request", () => {
    expect(checkWrite(good, hosts, token)).toEqual({ ok: true });
  });

  it("refuses a cross-site origin, a missing origin, a wrong or missing token, and a foreign Host", () => {
    const cases = [
      { ...good, origin: "https://evil.example" },
      { ...good, origin: "http://localhost:3100" },
      { ...good, origin: undefined },
      { ...good, token: undefined },
      { ...good, token: newToken() },
      { ...good, token: token.slice(1) },
      { ...good, host: "evil.example:3100", origin: "http://evil.example:3100" },
    ];
    const results = cases.map((c) => checkWrite(c, hosts, token));
    expect(results.map((r) => r.ok)).toEqual(cases.map(() => false));
    expect(results.at(-1)).toMatchObject({ status: 421 });
    expect(results[0]).toMatchObject({ status: 403 });
  });

  it("makes a new random token per server", () => {
    const a = newToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newToken()).not.toBe(a);
  });
});
