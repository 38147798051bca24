// The webhook certificates the operator generates (src/operator/injection/certificates.ts) parse
// with node:crypto and with openssl, whatever random serial they draw; and the checks that stand
// between a stored or generated certificate and the server name every way one can be unusable.
import * as crypto from "node:crypto";
import { X509Certificate } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { describe, expect, it, vi } from "vitest";
import { checkCaBundle, patchCaBundle } from "../../../src/operator/injection/ca-bundle.js";
import {
  caProblem,
  encodeCertificate,
  generateCertificates,
  issueServing,
  keyId,
  servingProblem,
  spki,
} from "../../../src/operator/injection/certificates.js";
import { opensslSerials } from "../../support/openssl.js";
import { seededRandom } from "../../support/seeded-random.js";

// The serial numbers come from node:crypto's randomBytes; a test can queue the octets they draw.
const forcedRandom = vi.hoisted(() => ({ queue: [] as Buffer[] }));
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  const randomBytes = (size: number) => {
    const next = forcedRandom.queue.shift();
    return next ? Buffer.from(next.subarray(0, size)) : actual.randomBytes(size);
  };
  return { ...actual, randomBytes, default: { ...actual, randomBytes } };
});

const DAY = 24 * 60 * 60 * 1000;
const HOSTS = { dnsNames: ["flagwright.flagwright-system.svc"], ipAddresses: ["127.0.0.1"] };
const serialOf = (pem: string) => BigInt(`0x${new X509Certificate(pem).serialNumber}`);

describe("serial numbers", () => {
  it("parse when the random octets start with 00 and a clear high bit (1 draw in 512)", () => {
    const caSerial = Buffer.from("0012aabbccddeeff0011223344556677", "hex");
    const servingSerial = Buffer.from("007f00000000000000000000000000ff", "hex");
    forcedRandom.queue.push(caSerial, servingSerial);
    const certs = generateCertificates(HOSTS);
    expect(forcedRandom.queue).toEqual([]);
    expect(serialOf(certs.caCert)).toBe(BigInt(`0x${caSerial.toString("hex")}`));
    expect(serialOf(certs.cert)).toBe(BigInt(`0x${servingSerial.toString("hex")}`));
    expect(opensslSerials([certs.caCert, certs.cert])).toEqual({
      serials: [serialOf(certs.caCert), serialOf(certs.cert)],
    });
  });

  it("parse when the random octets are all zero or start with a set high bit", () => {
    forcedRandom.queue.push(Buffer.alloc(16), Buffer.from("80".repeat(16), "hex"));
    const certs = generateCertificates(HOSTS);
    expect(forcedRandom.queue).toEqual([]);
    // Zero is no serial number (RFC 5280 4.1.2.2 wants a positive one).
    expect(serialOf(certs.caCert)).toBe(1n);
    expect(serialOf(certs.cert)).toBe(BigInt(`0x${"80".repeat(16)}`));
    expect(opensslSerials([certs.caCert, certs.cert]).serials).toHaveLength(2);
  });
});

// Every shape the encoder can be asked for; 10,000 certificates as the operator generates them are
// parsed in test/integration/injection/certificates-openssl.test.ts (too slow for the unit
// timeout on a busy machine).
describe("property: 1,000 certificates of every shape", () => {
  it("all parse with node:crypto and openssl, which read the same serial, names and dates", () => {
    const started = performance.now();
    const random = seededRandom(20261207);
    const pick = (n: number) => Math.floor(random() * n);
    const ca = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
    const caKeyId = keyId(spki(ca.publicKey));
    const subjects = Array.from({ length: 8 }, () =>
      spki(crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey),
    );
    const label = () =>
      Array.from({ length: 1 + pick(20) }, () => "abcdefghijklmnopqrstuvwxyz0123456789-"[pick(37)]).join("");
    const dnsName = () => {
      const parts = Array.from({ length: 1 + pick(12) }, label);
      return parts.join(".").replace(/^-|-$/g, "x").slice(0, 253);
    };
    const ip = () =>
      pick(2)
        ? Array.from({ length: 4 }, () => pick(256)).join(".")
        : Array.from({ length: 8 }, () => pick(65536).toString(16)).join(":");
    // Years around the UTCTime/GeneralizedTime switches (1950, 2050) and far from them.
    const date = () => {
      const years = [1949, 1950, 2049, 2050, 1970 + pick(200)];
      const year = years[pick(years.length)] as number;
      return new Date(Date.UTC(year, pick(12), 1 + pick(28), pick(24), pick(60), pick(60), pick(1000)));
    };
    const shapes = Array.from({ length: 1_000 }, () => {
      // Mostly a few names; now and then enough that lengths need two octets (over 255).
      const many = pick(50) === 0 ? 60 + pick(100) : pick(4);
      const notBefore = date();
      return {
        subject: pick(10) === 0 ? "Zürich ✓ flagwright" : label(),
        issuer: "flagwright-injector-ca",
        publicKeyDer: subjects[pick(subjects.length)] as Buffer,
        signingKey: ca.privateKey,
        issuerKeyId: caKeyId,
        notBefore,
        notAfter: new Date(notBefore.getTime() + pick(100 * 365) * DAY),
        ca: pick(10) === 0,
        dnsNames: Array.from({ length: many }, dnsName),
        ipAddresses: Array.from({ length: pick(3) }, ip),
      };
    });
    const pems = shapes.map((shape) => encodeCertificate(shape));
    const generatedMs = performance.now() - started;

    const unparsed: string[] = [];
    const nodeSerials = pems.map((pem, i) => {
      try {
        const x509 = new X509Certificate(pem);
        const shape = shapes[i] as (typeof shapes)[number];
        const second = (d: Date) => Math.floor(d.getTime() / 1000) * 1000;
        if (
          new Date(x509.validFrom).getTime() !== second(shape.notBefore) ||
          new Date(x509.validTo).getTime() !== second(shape.notAfter) ||
          x509.ca !== shape.ca ||
          (!shape.ca &&
            shape.dnsNames[0] !== undefined &&
            x509.checkHost(shape.dnsNames[0], { subject: "never" }) === undefined)
        )
          unparsed.push(`#${i}: fields differ: ${x509.validFrom} ${x509.validTo} ${x509.subjectAltName}`);
        return BigInt(`0x${x509.serialNumber}`);
      } catch (error) {
        unparsed.push(`#${i}: ${(error as Error).message}`);
        return -1n;
      }
    });
    expect(unparsed).toEqual([]);
    expect(nodeSerials.every((s) => s > 0n && s < 2n ** 128n)).toBe(true);
    const nodeMs = performance.now() - started - generatedMs;

    const openssl = opensslSerials(pems);
    expect(openssl.error).toBeUndefined();
    expect(openssl.serials).toEqual(nodeSerials);
    const opensslMs = performance.now() - started - generatedMs - nodeMs;
    console.log(
      `1,000 certificates: generated in ${generatedMs.toFixed(0)} ms, node:crypto parsed in ${nodeMs.toFixed(0)} ms, openssl in ${opensslMs.toFixed(0)} ms`,
    );
  });
});

describe("checks before use", () => {
  const good = generateCertificates(HOSTS);
  const other = generateCertificates(HOSTS);

  it("accept a set just generated", () => {
    expect(caProblem(good)).toBeUndefined();
    expect(servingProblem(good, HOSTS)).toBeUndefined();
  });

  it("name a CA that is missing, garbage, mismatched, of the wrong kind or (nearly) expired", () => {
    const garbage = "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n";
    expect(caProblem({ ...good, caCert: "" })).toBe("ca.crt is missing");
    expect(caProblem({ ...good, caCert: garbage })).toMatch(
      /^ca\.crt does not parse as an X\.509 certificate/,
    );
    expect(caProblem({ ...good, caCert: "not a PEM at all" })).toMatch(/^ca\.crt does not parse/);
    expect(
      caProblem({ ...good, caKey: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" }),
    ).toMatch(/^ca\.key does not parse as a private key/);
    expect(caProblem({ caCert: good.caCert, caKey: other.caKey })).toBe("ca.key does not match ca.crt");
    // A serving certificate in place of the CA.
    expect(caProblem({ caCert: good.cert, caKey: good.key })).toBe("ca.crt is not a CA certificate");
    const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 1024 });
    expect(
      caProblem({
        caCert: good.caCert,
        caKey: rsa.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      }),
    ).toBe("ca.key is a rsa key, not ECDSA P-256");
    const elevenYearsAgo = new Date(Date.now() - 11 * 365 * DAY);
    expect(caProblem(generateCertificates(HOSTS, elevenYearsAgo))).toMatch(/^ca\.crt expired on /);
    const almostTenYearsAgo = new Date(Date.now() - 3640 * DAY);
    expect(caProblem(generateCertificates(HOSTS, almostTenYearsAgo))).toMatch(
      /^ca\.crt expires on .*, within 30 days$/,
    );
    const tomorrow = new Date(Date.now() + DAY);
    expect(caProblem(generateCertificates(HOSTS, tomorrow))).toMatch(/^ca\.crt is not valid before /);
  });

  it("name a serving certificate that is garbage, mismatched, foreign, expired or misses a name", () => {
    expect(servingProblem({ ...good, cert: "garbage" }, HOSTS)).toMatch(/^tls\.crt does not parse/);
    expect(servingProblem({ ...good, key: "" }, HOSTS)).toBe("tls.key is missing");
    expect(servingProblem({ ...good, key: other.key }, HOSTS)).toBe("tls.key does not match tls.crt");
    expect(servingProblem({ ...good, cert: other.cert, key: other.key }, HOSTS)).toBe(
      "tls.crt is not signed by ca.crt",
    );
    const lastYear = generateCertificates(HOSTS, new Date(Date.now() - 400 * DAY));
    expect(servingProblem(lastYear, HOSTS)).toMatch(/^tls\.crt expired on /);
    expect(servingProblem(good, { dnsNames: ["other.flagwright-system.svc"] })).toBe(
      "tls.crt does not cover the DNS name other.flagwright-system.svc",
    );
    expect(servingProblem(good, { ipAddresses: ["10.0.0.1"] })).toBe(
      "tls.crt does not cover the IP address 10.0.0.1",
    );
  });

  it("issue no serving certificate from an unusable CA, and none outliving its CA", () => {
    expect(() => issueServing({ caCert: good.caCert, caKey: other.caKey }, HOSTS)).toThrow(
      "cannot issue a serving certificate: ca.key does not match ca.crt",
    );
    // A CA with 100 days left signs for 100 days, not a year.
    const now = new Date();
    const oldCa = generateCertificates(HOSTS, new Date(now.getTime() - 3550 * DAY));
    const serving = issueServing(oldCa, HOSTS, now);
    expect(new X509Certificate(serving.cert).validTo).toBe(new X509Certificate(oldCa.caCert).validTo);
    expect(servingProblem({ ...oldCa, ...serving }, HOSTS, now)).toBeUndefined();
  });

  it("cover IPv6 addresses with 16-octet SANs and refuse names a SAN cannot hold", () => {
    const ipAddresses = ["::1", "fd00::1:2", "2001:db8::ffff:10.0.0.1", "127.0.0.1"];
    const certs = generateCertificates({ dnsNames: ["a.example"], ipAddresses });
    const x509 = new X509Certificate(certs.cert);
    for (const ip of ipAddresses) expect(x509.checkIP(ip), ip).toBe(ip);
    expect(opensslSerials([certs.cert]).serials).toHaveLength(1);
    expect(() => generateCertificates({ ipAddresses: ["localhost"] })).toThrow(
      'ipAddresses: "localhost" is not an IPv4 or IPv6 address',
    );
    expect(() => generateCertificates({ dnsNames: ["bücher.example"] })).toThrow(
      'dnsNames: "bücher.example" is not an ASCII DNS name',
    );
  });
});

describe("caBundle", () => {
  it("is refused before any API request when the CA does not parse, is no CA or has expired", async () => {
    const good = generateCertificates(HOSTS);
    expect(() => checkCaBundle(good.caCert)).not.toThrow();
    expect(() => checkCaBundle("garbage")).toThrow(
      /^caBundle: the CA does not parse as an X\.509 certificate/,
    );
    expect(() => checkCaBundle(good.cert)).toThrow("caBundle: the certificate is not a CA certificate");
    expect(() => checkCaBundle(good.caCert, new Date(Date.now() + 3651 * DAY))).toThrow(
      /^caBundle: the CA expired on /,
    );
    // No API server listens on port 9: a request would fail differently.
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: "http://127.0.0.1:9", skipTLSVerify: true }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    await expect(patchCaBundle(kc, "flagwright-injector", "garbage")).rejects.toThrow(
      /^caBundle: the CA does not parse/,
    );
  });
});
