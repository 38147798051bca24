// Webhook certificates: a CA the operator generates and a serving certificate it signs
// (X.509 v3, ECDSA P-256 / SHA-256), encoded with ./der.ts. Every certificate and key, generated
// or read back, goes through node:crypto's parser and the checks below before anything serves it.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { bool, der, integer, namedBits, octetBits, oid, positiveInt, seq, time } from "./der.js";

export interface WebhookCertificates {
  /** PEM of the CA that goes into caBundle. */
  caCert: string;
  caKey: string;
  /** PEM serving certificate and key. */
  cert: string;
  key: string;
}

/** The names a serving certificate covers. */
export interface CertificateHosts {
  dnsNames?: string[];
  ipAddresses?: string[];
}

const DAY = 24 * 60 * 60 * 1000;
const ISSUER = "flagwright-injector-ca";
const CA_LIFETIME_MS = 3650 * DAY;
const SERVING_LIFETIME_MS = 365 * DAY;
/** A certificate with less validity left than this is replaced rather than served. */
const RENEW_BEFORE_MS = 30 * DAY;
/** Clock skew between the operator and the API server that a new certificate tolerates. */
const BACKDATE_MS = 60 * 60 * 1000;
/** ub-common-name (RFC 5280 appendix A). */
const MAX_COMMON_NAME = 64;

const name = (commonName: string) =>
  seq(der(0x31, seq(oid("2.5.4.3"), der(0x0c, Buffer.from(commonName, "utf8")))));
const extension = (id: string, critical: boolean, value: Buffer) =>
  seq(oid(id), ...(critical ? [bool(true)] : []), der(0x04, value));
const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

/** keyUsage bits (RFC 5280 4.2.1.3). */
const DIGITAL_SIGNATURE = 0;
const KEY_CERT_SIGN = 5;
const CRL_SIGN = 6;

export const spki = (publicKey: KeyObject) => publicKey.export({ type: "spki", format: "der" });
/** A key identifier: SHA-1 of the whole SubjectPublicKeyInfo (RFC 5280 4.2.1.2 allows any unique value). */
export const keyId = (spkiDer: Buffer) => createHash("sha1").update(spkiDer).digest();

/**
 * A serial number: 128 random bits, positive and non-zero, at most 17 octets once encoded
 * (RFC 5280 4.1.2.2 allows 20). positiveInt keeps the encoding minimal whatever the first octets.
 */
function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  if (bytes.every((b) => b === 0)) bytes[15] = 1;
  return bytes;
}

/** The iPAddress form of a SAN: 4 octets for IPv4, 16 for IPv6 (RFC 5280 4.2.1.6). */
function ipAddressOctets(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
  if (!isIPv6(ip)) throw new Error(`ipAddresses: "${ip}" is not an IPv4 or IPv6 address`);
  let text = ip.split("%")[0] ?? "";
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const groups = (part: string) => (part ? part.split(":") : []);
  const all =
    tail === undefined
      ? groups(head)
      : [...groups(head), ...Array(8 - groups(head).length - groups(tail).length).fill("0"), ...groups(tail)];
  return Buffer.from(
    all.flatMap((g) => {
      const n = Number.parseInt(g, 16);
      return [n >> 8, n & 0xff];
    }),
  );
}

/** A dNSName is an IA5String: ASCII only, and a name has no spaces or control characters. */
function dnsNameOctets(dnsName: string): Buffer {
  if (!/^[\x21-\x7e]{1,253}$/.test(dnsName))
    throw new Error(`dnsNames: "${dnsName}" is not an ASCII DNS name of at most 253 characters`);
  return Buffer.from(dnsName, "ascii");
}

/** Options of encodeCertificate. */
export type CertificateFields = {
  /** Common names of subject and issuer. */
  subject: string;
  issuer: string;
  /** The subject's public key as DER SubjectPublicKeyInfo. */
  publicKeyDer: Buffer;
  /** The issuer's ECDSA P-256 private key. */
  signingKey: KeyObject;
  issuerKeyId: Buffer;
  notBefore: Date;
  notAfter: Date;
  ca: boolean;
} & CertificateHosts;

/**
 * One X.509 v3 certificate as PEM, with a fresh random serial, signed ECDSA-SHA256. Callers
 * parse and check it before use, as generateCertificates and issueServing do.
 */
export function encodeCertificate(options: CertificateFields): string {
  const extensions = [
    extension("2.5.29.19", true, options.ca ? seq(bool(true)) : seq()),
    extension(
      "2.5.29.15",
      true,
      namedBits(options.ca ? [DIGITAL_SIGNATURE, KEY_CERT_SIGN, CRL_SIGN] : [DIGITAL_SIGNATURE]),
    ),
    extension("2.5.29.14", false, der(0x04, keyId(options.publicKeyDer))),
    extension("2.5.29.35", false, seq(der(0x80, options.issuerKeyId))),
  ];
  if (!options.ca) {
    extensions.push(extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"))));
    const names = [
      ...(options.dnsNames ?? []).map((n) => der(0x82, dnsNameOctets(n))),
      ...(options.ipAddresses ?? []).map((ip) => der(0x87, ipAddressOctets(ip))),
    ];
    // GeneralNames has at least one entry: without names there is no extension at all.
    if (names.length > 0) extensions.push(extension("2.5.29.17", false, seq(...names)));
  }
  const tbs = seq(
    der(0xa0, integer(2)),
    positiveInt(serialNumber()),
    ECDSA_SHA256,
    name(options.issuer),
    seq(time(options.notBefore), time(options.notAfter)),
    name(options.subject),
    options.publicKeyDer,
    der(0xa3, seq(...extensions)),
  );
  const signature = sign("sha256", tbs, options.signingKey);
  const cert = seq(tbs, ECDSA_SHA256, octetBits(signature));
  const b64 = cert.toString("base64").replace(/(.{64})/g, "$1\n");
  return `-----BEGIN CERTIFICATE-----\n${b64.trimEnd()}\n-----END CERTIFICATE-----\n`;
}

/** A CA ready to sign: its parsed certificate, private key and key identifier. */
interface SigningCa {
  x509: X509Certificate;
  key: KeyObject;
  keyId: Buffer;
}

/** A new ECDSA P-256 key: its PKCS#8 PEM, the key parsed back from it, and its public key (SPKI DER). */
interface NewKey {
  pem: string;
  key: KeyObject;
  spki: Buffer;
}

/**
 * The KeyObjects generateKeyPairSync returns share their key with the generation job; on Node 20,
 * reading asymmetricKeyDetails from one deadlocks the thread if a garbage collection during that
 * read destroys the job (a stress loop of generate-then-read hangs within about 40,000 keys). The
 * key is therefore generated as PEM and parsed back, which shares nothing with the job.
 */
function newKey(): NewKey {
  const generated = generateKeyPairSync("ec", {
    namedCurve: "P-256",
    publicKeyEncoding: { type: "spki", format: "der" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return {
    pem: generated.privateKey,
    key: createPrivateKey(generated.privateKey),
    spki: generated.publicKey,
  };
}

/** A new CA (10 years) and a serving certificate it signed (1 year) for these names. */
export function generateCertificates(hosts: CertificateHosts, now = new Date()): WebhookCertificates {
  const pair = newKey();
  const caSpki = pair.spki;
  const caCert = encodeCertificate({
    subject: ISSUER,
    issuer: ISSUER,
    publicKeyDer: caSpki,
    signingKey: pair.key,
    issuerKeyId: keyId(caSpki),
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + CA_LIFETIME_MS),
    ca: true,
  });
  const ca = parseCertificate(caCert, "ca.crt");
  const problem = ca.problem ?? checkCa(ca.value, pair.key, now, RENEW_BEFORE_MS);
  if (problem !== undefined) throw new Error(`the generated webhook CA is unusable: ${problem}`);
  const signing = { x509: ca.value as X509Certificate, key: pair.key, keyId: keyId(caSpki) };
  return { caCert, caKey: pair.pem, ...issue(signing, hosts, now) };
}

/**
 * A serving certificate (1 year, never past the CA's own expiry) signed by an existing CA that
 * caProblem accepts.
 */
export function issueServing(
  ca: { caCert: string; caKey: string },
  hosts: CertificateHosts,
  now = new Date(),
): { cert: string; key: string } {
  const parsed = parseCa(ca, now, RENEW_BEFORE_MS);
  if (parsed.problem !== undefined) throw new Error(`cannot issue a serving certificate: ${parsed.problem}`);
  const { x509, key } = parsed.value;
  return issue({ x509, key, keyId: keyId(spki(createPublicKey(key))) }, hosts, now);
}

/** Signs a serving certificate and checks it, parsed back, before anything uses it. */
function issue(ca: SigningCa, hosts: CertificateHosts, now: Date): { cert: string; key: string } {
  const leaf = newKey();
  const first = hosts.dnsNames?.[0] ?? hosts.ipAddresses?.[0] ?? "";
  const cert = encodeCertificate({
    subject: first && first.length <= MAX_COMMON_NAME ? first : "flagwright-webhook",
    issuer: ISSUER,
    publicKeyDer: leaf.spki,
    signingKey: ca.key,
    issuerKeyId: ca.keyId,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(Math.min(now.getTime() + SERVING_LIFETIME_MS, new Date(ca.x509.validTo).getTime())),
    ca: false,
    ...hosts,
  });
  const parsed = parseCertificate(cert, "tls.crt");
  const problem = parsed.problem ?? checkServing(ca.x509, parsed.value, leaf.key, hosts, now, 0);
  if (problem !== undefined)
    throw new Error(`the issued webhook serving certificate is unusable: ${problem}`);
  return { cert, key: leaf.pem };
}

type Parsed<T> = { value: T; problem?: undefined } | { value?: undefined; problem: string };

function parseCertificate(pem: string, field: string): Parsed<X509Certificate> {
  if (!pem.trim()) return { problem: `${field} is missing` };
  try {
    return { value: new X509Certificate(pem) };
  } catch (error) {
    return { problem: `${field} does not parse as an X.509 certificate: ${(error as Error).message}` };
  }
}

function parseKey(pem: string, field: string): Parsed<KeyObject> {
  if (!pem.trim()) return { problem: `${field} is missing` };
  try {
    return { value: createPrivateKey(pem) };
  } catch (error) {
    return { problem: `${field} does not parse as a private key: ${(error as Error).message}` };
  }
}

/** Why a certificate's validity does not cover now plus `renewBefore`, or undefined. */
function validityProblem(x509: X509Certificate, field: string, now: Date, renewBefore: number) {
  const from = new Date(x509.validFrom).getTime();
  const to = new Date(x509.validTo).getTime();
  if (!(from <= now.getTime())) return `${field} is not valid before ${x509.validFrom}`;
  if (!(to - now.getTime() >= renewBefore))
    return to <= now.getTime()
      ? `${field} expired on ${x509.validTo}`
      : `${field} expires on ${x509.validTo}, within ${Math.round(renewBefore / DAY)} days`;
  return undefined;
}

/**
 * Why this CA cannot sign serving certificates, or undefined: ca.crt and ca.key must parse, match,
 * be an ECDSA P-256 CA that signed itself, and stay valid for `renewBefore` more.
 */
export function caProblem(
  ca: { caCert: string; caKey: string },
  now = new Date(),
  renewBefore = RENEW_BEFORE_MS,
): string | undefined {
  return parseCa(ca, now, renewBefore).problem;
}

function parseCa(
  ca: { caCert: string; caKey: string },
  now: Date,
  renewBefore: number,
): Parsed<{ x509: X509Certificate; key: KeyObject }> {
  const cert = parseCertificate(ca.caCert, "ca.crt");
  if (cert.problem !== undefined) return cert;
  const key = parseKey(ca.caKey, "ca.key");
  if (key.problem !== undefined) return key;
  const problem = checkCa(cert.value, key.value, now, renewBefore);
  return problem === undefined ? { value: { x509: cert.value, key: key.value } } : { problem };
}

function checkCa(x509: X509Certificate, key: KeyObject, now: Date, renewBefore: number) {
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1")
    return `ca.key is a ${key.asymmetricKeyType} key, not ECDSA P-256`;
  if (!x509.checkPrivateKey(key)) return "ca.key does not match ca.crt";
  if (!x509.ca) return "ca.crt is not a CA certificate";
  if (!x509.checkIssued(x509) || !x509.verify(x509.publicKey)) return "ca.crt is not validly self-signed";
  return validityProblem(x509, "ca.crt", now, renewBefore);
}

/**
 * Why the serving certificate cannot be served, or undefined: tls.crt and tls.key must parse and
 * match, tls.crt must be signed by ca.crt, cover every name, and stay valid for `renewBefore`
 * more. The CA itself is checked by caProblem.
 */
export function servingProblem(
  certs: WebhookCertificates,
  hosts: CertificateHosts,
  now = new Date(),
  renewBefore = RENEW_BEFORE_MS,
): string | undefined {
  const ca = parseCertificate(certs.caCert, "ca.crt");
  if (ca.problem !== undefined) return ca.problem;
  const cert = parseCertificate(certs.cert, "tls.crt");
  if (cert.problem !== undefined) return cert.problem;
  const key = parseKey(certs.key, "tls.key");
  if (key.problem !== undefined) return key.problem;
  return checkServing(ca.value, cert.value, key.value, hosts, now, renewBefore);
}

function checkServing(
  ca: X509Certificate,
  x509: X509Certificate,
  key: KeyObject,
  hosts: CertificateHosts,
  now: Date,
  renewBefore: number,
) {
  if (!x509.checkPrivateKey(key)) return "tls.key does not match tls.crt";
  if (!x509.checkIssued(ca) || !x509.verify(ca.publicKey)) return "tls.crt is not signed by ca.crt";
  const validity = validityProblem(x509, "tls.crt", now, renewBefore);
  if (validity) return validity;
  const dnsName = (hosts.dnsNames ?? []).find((n) => x509.checkHost(n, { subject: "never" }) !== n);
  if (dnsName !== undefined) return `tls.crt does not cover the DNS name ${dnsName}`;
  const ip = (hosts.ipAddresses ?? []).find((a) => x509.checkIP(a) !== a);
  if (ip !== undefined) return `tls.crt does not cover the IP address ${ip}`;
  return undefined;
}
