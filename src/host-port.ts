// The one parser for listen addresses given on the command line (--listen, --http-address,
// --injection-address), so every flag accepts the same forms and fails with the same message.
import { isIP } from "node:net";

export interface HostPort {
  /** undefined: all interfaces, IPv4 and IPv6 (Node's default for server.listen). */
  host: string | undefined;
  port: number;
}

/**
 * "host:port", "[ipv6]:port", ":port" or a bare "port" → host and port. A missing host means
 * `defaultHost` (undefined: every interface). Port 0 asks the system for a free one. Throws an
 * error naming `flag` for anything else: a missing or out-of-range port, an IPv6 address without
 * brackets, or brackets around something that is not an IPv6 address.
 */
export function parseHostPort(
  value: string,
  options: { flag: string; defaultHost: string },
): HostPort & { host: string };
export function parseHostPort(value: string, options: { flag: string; defaultHost?: string }): HostPort;
export function parseHostPort(value: string, options: { flag: string; defaultHost?: string }): HostPort {
  const fail = (why: string): never => {
    throw new Error(
      `${options.flag} must be HOST:PORT, [IPV6]:PORT or :PORT (${why}), got ${JSON.stringify(value)}`,
    );
  };
  let host: string;
  let portText: string;
  if (/^\d+$/.test(value)) [host, portText] = ["", value];
  else if (value.startsWith("[")) {
    const m = /^\[([^\]]*)\](?::(.*))?$/.exec(value);
    if (!m) fail("no closing bracket");
    host = m?.[1] ?? "";
    if (isIP(host) !== 6) fail("brackets are for an IPv6 address");
    portText = m?.[2] ?? "";
  } else {
    const colon = value.indexOf(":");
    if (colon !== value.lastIndexOf(":")) fail("put an IPv6 address in brackets");
    if (colon < 0) fail("no port");
    [host, portText] = [value.slice(0, colon), value.slice(colon + 1)];
  }
  if (portText === "") fail("no port");
  if (!/^\d+$/.test(portText)) fail("the port is not a number");
  const port = Number(portText);
  if (port > 65535) fail("the port is above 65535");
  return { host: host || options.defaultHost, port };
}
