// Webhook certificates: a CA the operator generates and a serving certificate it signs
// (X.509 v3, ECDSA P-256 / SHA-256), encoded with ./der.ts.
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
import { der, oid, positiveInt, seq, time } from "./der.js";

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

const name = (commonName: string) =>
  seq(der(0x31, seq(oid("2.5.4.3"), der(0x0c, Buffer.from(commonName, "utf8")))));
const extension = (id: string, critical: boolean, value: Buffer) =>
  seq(oid(id), ...(critical ? [der(0x01, Buffer.from([0xff]))] : []), der(0x04, value));
const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

function keyId(publicKey: KeyObject): Buffer {
  return createHash("sha1")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest();
}

function certificate(
  options: {
    subject: string;
    issuer: string;
    publicKey: KeyObject;
    signingKey: KeyObject;
    issuerKeyId: Buffer;
    notAfter: Date;
    ca: boolean;
  } & CertificateHosts,
): string {
  const now = Date.now();
  const extensions = [
    extension("2.5.29.19", true, options.ca ? seq(der(0x01, Buffer.from([0xff]))) : seq()),
    // keyUsage: CA keyCertSign + cRLSign + digitalSignature; leaf digitalSignature.
    extension(
      "2.5.29.15",
      true,
      options.ca ? Buffer.from([0x03, 0x02, 0x01, 0x86]) : Buffer.from([0x03, 0x02, 0x07, 0x80]),
    ),
    extension("2.5.29.14", false, der(0x04, keyId(options.publicKey))),
    extension("2.5.29.35", false, seq(der(0x80, options.issuerKeyId))),
  ];
  if (!options.ca) {
    extensions.push(extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"))));
    const names = [
      ...(options.dnsNames ?? []).map((n) => der(0x82, Buffer.from(n, "ascii"))),
      ...(options.ipAddresses ?? []).map((ip) => der(0x87, Buffer.from(ip.split(".").map(Number)))),
    ];
    extensions.push(extension("2.5.29.17", false, seq(...names)));
  }
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))),
    positiveInt(randomBytes(16)),
    ECDSA_SHA256,
    name(options.issuer),
    seq(time(new Date(now - 60 * 60 * 1000)), time(options.notAfter)),
    name(options.subject),
    options.publicKey.export({ type: "spki", format: "der" }),
    der(0xa3, seq(...extensions)),
  );
  const signature = sign("sha256", tbs, options.signingKey);
  const cert = seq(tbs, ECDSA_SHA256, der(0x03, Buffer.from([0]), signature));
  const b64 = cert.toString("base64").replace(/(.{64})/g, "$1\n");
  return `-----BEGIN CERTIFICATE-----\n${b64.trimEnd()}\n-----END CERTIFICATE-----\n`;
}

/** A new CA (10 years) and a serving certificate it signed (1 year) for these names. */
export function generateCertificates(hosts: CertificateHosts, now = new Date()): WebhookCertificates {
  const ca = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const caCert = certificate({
    subject: ISSUER,
    issuer: ISSUER,
    publicKey: ca.publicKey,
    signingKey: ca.privateKey,
    issuerKeyId: keyId(ca.publicKey),
    notAfter: new Date(now.getTime() + 3650 * DAY),
    ca: true,
  });
  const caKey = ca.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return { caCert, caKey, ...issueServing({ caCert, caKey }, hosts, now) };
}

/** A serving certificate (1 year) signed by an existing CA. */
export function issueServing(
  ca: { caCert: string; caKey: string },
  hosts: CertificateHosts,
  now = new Date(),
): { cert: string; key: string } {
  const caKey = createPrivateKey(ca.caKey);
  const caPublic = createPublicKey(caKey);
  const leaf = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const first = hosts.dnsNames?.[0] ?? hosts.ipAddresses?.[0] ?? "flagwright-injector";
  const cert = certificate({
    subject: first,
    issuer: ISSUER,
    publicKey: leaf.publicKey,
    signingKey: caKey,
    issuerKeyId: keyId(caPublic),
    notAfter: new Date(now.getTime() + 365 * DAY),
    ca: false,
    ...hosts,
  });
  return { cert, key: leaf.privateKey.export({ type: "pkcs8", format: "pem" }).toString() };
}

/** Whether a PEM certificate covers every name and stays valid for at least 30 more days. */
export function coversHosts(cert: string, hosts: CertificateHosts, now: Date): boolean {
  try {
    const x509 = new X509Certificate(cert);
    if (new Date(x509.validTo).getTime() - now.getTime() < 30 * DAY) return false;
    return (
      (hosts.dnsNames ?? []).every((n) => x509.checkHost(n, { subject: "never" }) === n) &&
      (hosts.ipAddresses ?? []).every((ip) => x509.checkIP(ip) === ip)
    );
  } catch {
    return false;
  }
}
