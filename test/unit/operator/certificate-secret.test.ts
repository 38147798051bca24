// The webhook certificate Secret (src/operator/injection/certificate-secret.ts) against a small
// in-memory Secrets API: a stored set that does not parse, does not match or has expired is
// replaced, written back and logged naming the Secret and the reason; never returned for serving.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { KubeConfig, type V1Secret } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadOrCreateCertificates } from "../../../src/operator/injection/certificate-secret.js";
import {
  generateCertificates,
  type WebhookCertificates,
} from "../../../src/operator/injection/certificates.js";

const NAMESPACE = "flagwright-system";
const NAME = "flagwright-injector-tls";
const PATH = `/api/v1/namespaces/${NAMESPACE}/secrets`;
const HOSTS = { dnsNames: ["flagwright.flagwright-system.svc"], ipAddresses: ["127.0.0.1"] };
const DAY = 24 * 60 * 60 * 1000;

/** One Secret behind GET, POST and PUT, with resourceVersion conflicts as the API server has them. */
class FakeSecrets {
  secret: V1Secret | undefined;
  requests: string[] = [];
  /** Status answered to the next PUT instead of storing it. */
  failNextPut: number | undefined;
  /** Runs before the next PUT is looked at: another replica writing first. */
  beforeNextPut: (() => void) | undefined;
  private version = 1;
  private server: Server | undefined;

  store(data: Record<string, string>) {
    this.secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: NAME, namespace: NAMESPACE, resourceVersion: String(this.version++) },
      type: "Opaque",
      data,
    };
  }

  async start(): Promise<KubeConfig> {
    this.server = createServer(async (req, res) => {
      const body = await readBody(req);
      this.requests.push(`${req.method} ${req.url}`);
      const answer = (status: number, object: unknown) =>
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(object));
      const status = (code: number, reason: string) =>
        answer(code, { kind: "Status", apiVersion: "v1", status: "Failure", reason, code });
      if (req.method === "GET" && req.url === `${PATH}/${NAME}`) {
        if (!this.secret) return status(404, "NotFound");
        return answer(200, this.secret);
      }
      if (req.method === "POST" && req.url === PATH) {
        if (this.secret) return status(409, "AlreadyExists");
        this.secret = {
          ...(body as V1Secret),
          metadata: { ...(body as V1Secret).metadata, resourceVersion: String(this.version++) },
        };
        return answer(201, this.secret);
      }
      if (req.method === "PUT" && req.url === `${PATH}/${NAME}`) {
        this.beforeNextPut?.();
        this.beforeNextPut = undefined;
        if (this.failNextPut) {
          const code = this.failNextPut;
          this.failNextPut = undefined;
          return status(code, "Forbidden");
        }
        const sent = body as V1Secret;
        if (sent.metadata?.resourceVersion !== this.secret?.metadata?.resourceVersion)
          return status(409, "Conflict");
        this.secret = { ...sent, metadata: { ...sent.metadata, resourceVersion: String(this.version++) } };
        return answer(200, this.secret);
      }
      return status(405, "MethodNotAllowed");
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: "c",
          server: `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`,
          skipTLSVerify: true,
        },
      ],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    return kc;
  }

  stop() {
    return new Promise<void>((resolve) => {
      this.server?.close(() => resolve());
      this.server?.closeAllConnections();
    });
  }

  /** The certificates now stored, decoded. */
  stored(): WebhookCertificates {
    const text = (key: string) => Buffer.from(this.secret?.data?.[key] ?? "", "base64").toString("utf8");
    return { caCert: text("ca.crt"), caKey: text("ca.key"), cert: text("tls.crt"), key: text("tls.key") };
  }
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : undefined;
}

const encode = (certs: WebhookCertificates) => ({
  "ca.crt": Buffer.from(certs.caCert).toString("base64"),
  "ca.key": Buffer.from(certs.caKey).toString("base64"),
  "tls.crt": Buffer.from(certs.cert).toString("base64"),
  "tls.key": Buffer.from(certs.key).toString("base64"),
});

/** A logger whose JSON lines the test reads. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: "info" }, stream), lines };
}

/** The set is usable, by node:crypto's own account: it parses, matches, chains and covers the names. */
function expectUsable(certs: WebhookCertificates) {
  const ca = new X509Certificate(certs.caCert);
  const cert = new X509Certificate(certs.cert);
  expect(ca.ca).toBe(true);
  expect(ca.checkPrivateKey(createPrivateKey(certs.caKey))).toBe(true);
  expect(cert.checkPrivateKey(createPrivateKey(certs.key))).toBe(true);
  expect(cert.verify(ca.publicKey)).toBe(true);
  for (const validity of [ca, cert]) {
    expect(new Date(validity.validFrom).getTime()).toBeLessThanOrEqual(Date.now());
    expect(new Date(validity.validTo).getTime()).toBeGreaterThan(Date.now() + 300 * DAY);
  }
  expect(cert.checkHost(HOSTS.dnsNames[0] as string, { subject: "never" })).toBe(HOSTS.dnsNames[0]);
  expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
}

let api: FakeSecrets;
let kc: KubeConfig;
beforeEach(async () => {
  api = new FakeSecrets();
  kc = await api.start();
});
afterEach(() => api.stop());

const good = generateCertificates(HOSTS);
const other = generateCertificates(HOSTS);
const garbagePem =
  "-----BEGIN CERTIFICATE-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END CERTIFICATE-----\n";

describe("loadOrCreateCertificates", () => {
  it("creates the Secret when there is none, then serves what it stored unchanged", async () => {
    const { log, lines } = capturingLogger();
    const created = await loadOrCreateCertificates(kc, NAMESPACE, NAME, HOSTS, { log });
    expectUsable(created);
    expect(api.stored()).toEqual(created);
    const again = await loadOrCreateCertificates(kc, NAMESPACE, NAME, HOSTS, { log });
    expect(again).toEqual(created);
    expect(api.requests.filter((r) => !r.startsWith("GET"))).toEqual([`POST ${PATH}`]);
    expect(lines).toEqual([]);
  });

  it.each<[string, () => WebhookCertificates, RegExp]>([
    ["a CA that is garbage", () => ({ ...good, caCert: garbagePem }), /^ca\.crt does not parse/],
    ["a CA key of another CA", () => ({ ...good, caKey: other.caKey }), /^ca\.key does not match ca\.crt$/],
    [
      "an expired CA",
      () => generateCertificates(HOSTS, new Date(Date.now() - 3660 * DAY)),
      /^ca\.crt expired on /,
    ],
    ["a CA key that is no key", () => ({ ...good, caKey: "ca key" }), /^ca\.key does not parse/],
  ])("replaces %s with a new CA, writes it back and logs why", async (_, stored, problem) => {
    api.store(encode(stored()));
    const before = api.stored();
    const { log, lines } = capturingLogger();
    const served = await loadOrCreateCertificates(kc, NAMESPACE, NAME, HOSTS, { log });
    expectUsable(served);
    expect(served.caCert).not.toBe(before.caCert);
    expect(api.stored()).toEqual(served);
    expect(api.secret?.metadata?.resourceVersion).not.toBe("1");
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 40,
        reason: "CertificateSecretReplaced",
        namespace: NAMESPACE,
        secret: NAME,
        err: expect.stringMatching(problem),
      }),
    );
  });

  it.each<[string, () => WebhookCertificates, RegExp]>([
    [
      "a serving certificate that is garbage",
      () => ({ ...good, cert: garbagePem }),
      /^tls\.crt does not parse/,
    ],
    ["a serving key of another certificate", () => ({ ...good, key: other.key }), /^tls\.key does not match/],
    [
      "a serving certificate of another CA",
      () => ({ ...good, cert: other.cert, key: other.key }),
      /^tls\.crt is not signed by ca\.crt$/,
    ],
    [
      "an expired serving certificate",
      () => generateCertificates(HOSTS, new Date(Date.now() - 400 * DAY)),
      /^tls\.crt expired on /,
    ],
    [
      "a serving certificate for other names",
      () => generateCertificates({ dnsNames: ["old.svc"] }),
      /does not cover/,
    ],
  ])("re-issues %s from the stored CA and writes it back", async (_, stored, problem) => {
    const set = stored();
    api.store(encode(set));
    const { log, lines } = capturingLogger();
    const served = await loadOrCreateCertificates(kc, NAMESPACE, NAME, HOSTS, { log });
    expectUsable(served);
    // The CA stays, so the caBundle every replica patched stays valid.
    expect(served.caCert).toBe(set.caCert);
    expect(served.caKey).toBe(set.caKey);
    expect(served.cert).not.toBe(set.cert);
    expect(api.stored()).toEqual(served);
    expect(lines).toContainEqual(
      expect.objectContaining({
        reason: "ServingCertificateReissued",
        namespace: NAMESPACE,
        secret: NAME,
        err: expect.stringMatching(problem),
      }),
    );
  });

  it("takes the Secret another replica wrote first after a conflict, checking it in turn", async () => {
    api.store(encode({ ...good, caCert: garbagePem }));
    const winner = generateCertificates(HOSTS);
    api.beforeNextPut = () => api.store(encode(winner));
    const served = await loadOrCreateCertificates(kc, NAMESPACE, NAME, HOSTS, { log: capturingLogger().log });
    expect(served).toEqual(winner);
    expect(api.stored()).toEqual(winner);
  });

  it("serves a replacement from memory, logging an error, when the Secret may not be written", async () => {
    api.store(encode({ ...good, caCert: garbagePem }));
    api.failNextPut = 403;
    const { log, lines } = capturingLogger();
    const served = await loadOrCreateCertificates(kc, NAMESPACE, NAME, HOSTS, { log });
    expectUsable(served);
    expect(new X509Certificate(served.caCert).ca).toBe(true);
    expect(api.stored().caCert).toBe(garbagePem);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 50,
        reason: "CertificateSecretNotWritten",
        namespace: NAMESPACE,
        secret: NAME,
      }),
    );
  });
});
