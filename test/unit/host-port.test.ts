// The one host:port parser behind --listen, --http-address and --injection-address.
import { describe, expect, it } from "vitest";
import { parseHostPort } from "../../src/host-port.js";

const parse = (value: string, defaultHost?: string) =>
  parseHostPort(value, { flag: "--listen", defaultHost });

describe("parseHostPort", () => {
  it.each([
    ["127.0.0.1:8016", { host: "127.0.0.1", port: 8016 }],
    ["localhost:0", { host: "localhost", port: 0 }],
    ["0.0.0.0:65535", { host: "0.0.0.0", port: 65535 }],
    ["[::1]:9443", { host: "::1", port: 9443 }],
    ["[fe80::1%eth0]:80", { host: "fe80::1%eth0", port: 80 }],
    ["[::]:8080", { host: "::", port: 8080 }],
  ])("%s", (value, want) => {
    expect(parse(value)).toEqual(want);
  });

  it("a missing host is the default host, or every interface without one", () => {
    expect(parse(":8080", "127.0.0.1")).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(parse(":8080")).toEqual({ host: undefined, port: 8080 });
    expect(parse("8016", "127.0.0.1")).toEqual({ host: "127.0.0.1", port: 8016 });
  });

  it.each([
    ["127.0.0.1", "no port"],
    ["localhost", "no port"],
    ["127.0.0.1:", "no port"],
    [":", "no port"],
    ["", "no port"],
    ["[::1]", "no port"],
    ["[::1]:", "no port"],
    ["[::1:80", "no closing bracket"],
    ["::1:8080", "put an IPv6 address in brackets"],
    ["127.0.0.1:http", "the port is not a number"],
    ["127.0.0.1:-1", "the port is not a number"],
    ["127.0.0.1:80.5", "the port is not a number"],
    ["127.0.0.1:65536", "the port is above 65535"],
    ["[127.0.0.1]:80", "brackets are for an IPv6 address"],
    ["[nonsense]:80", "brackets are for an IPv6 address"],
  ])("%j is refused: %s", (value, why) => {
    expect(() => parseHostPort(value, { flag: "--http-address" })).toThrow(
      `--http-address must be HOST:PORT, [IPV6]:PORT or :PORT (${why}), got ${JSON.stringify(value)}`,
    );
  });
});
