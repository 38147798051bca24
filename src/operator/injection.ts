// Sidecar injection: a mutating admission webhook that adds `flagwright sidecar` to pods that ask
// for it, as a native sidecar (an init container with restartPolicy Always: it starts before the
// app containers and stops after them). The webhook serves TLS with a certificate signed by a CA
// the operator generates (kept in a Secret shared by the replicas) and patches into its
// MutatingWebhookConfiguration's caBundle.
//
// Opt-in: the label `flagwright.dev/inject: "true"` (the webhook's objectSelector matches it, so
// pods that did not ask never reach the webhook and an operator outage cannot block them). The
// same key as an annotation is accepted too, for pods a namespace-wide selector sends here.
// Options by annotation:
//   flagwright.dev/source: volume (default) | watch   mounted ConfigMap, or API watch
//   flagwright.dev/configmap: <name>                   the flags ConfigMap (default flagwright-flags)
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
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Container,
  type V1Pod,
} from "@kubernetes/client-node";
import type { Logger } from "pino";

export const INJECT_KEY = "flagwright.dev/inject";
export const SOURCE_ANNOTATION = "flagwright.dev/source";
export const CONFIGMAP_ANNOTATION = "flagwright.dev/configmap";
export const INJECTED_ANNOTATION = "flagwright.dev/injected";
export const SIDECAR_CONTAINER = "flagwright-sidecar";
export const FLAGS_VOLUME = "flagwright-flags";
const FLAGS_MOUNT = "/etc/flagwright/flags";

// ---------------------------------------------------------------------------------------------
// Certificates: a minimal DER encoder for X.509 v3 (ECDSA P-256 / SHA-256), so the operator needs
// neither openssl nor a dependency to issue its webhook certificate.

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const der = (tag: number, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
};
const seq = (...parts: Buffer[]) => der(0x30, ...parts);
const oid = (dotted: string) => {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const bytes = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
};
const positiveInt = (bytes: Buffer) =>
  der(0x02, (bytes[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
const time = (date: Date) => {
  const iso = date.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
  return date.getUTCFullYear() < 2050
    ? der(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : der(0x18, Buffer.from(`${iso}Z`));
};
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

function certificate(options: {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  signingKey: KeyObject;
  issuerKeyId: Buffer;
  notAfter: Date;
  ca: boolean;
  dnsNames?: string[];
  ipAddresses?: string[];
}): string {
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

export interface WebhookCertificates {
  /** PEM of the CA that goes into caBundle. */
  caCert: string;
  caKey: string;
  /** PEM serving certificate and key. */
  cert: string;
  key: string;
}

const DAY = 24 * 60 * 60 * 1000;

/** A new CA (10 years) and a serving certificate it signed (1 year) for these names. */
export function generateCertificates(
  hosts: { dnsNames?: string[]; ipAddresses?: string[] },
  now = new Date(),
): WebhookCertificates {
  const ca = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const caCert = certificate({
    subject: "flagwright-injector-ca",
    issuer: "flagwright-injector-ca",
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
  hosts: { dnsNames?: string[]; ipAddresses?: string[] },
  now = new Date(),
): { cert: string; key: string } {
  const caKey = createPrivateKey(ca.caKey);
  const caPublic = createPublicKey(caKey);
  const leaf = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const first = hosts.dnsNames?.[0] ?? hosts.ipAddresses?.[0] ?? "flagwright-injector";
  const cert = certificate({
    subject: first,
    issuer: "flagwright-injector-ca",
    publicKey: leaf.publicKey,
    signingKey: caKey,
    issuerKeyId: keyId(caPublic),
    notAfter: new Date(now.getTime() + 365 * DAY),
    ca: false,
    ...hosts,
  });
  return { cert, key: leaf.privateKey.export({ type: "pkcs8", format: "pem" }).toString() };
}

// ---------------------------------------------------------------------------------------------
// The mutation.

export interface InjectionSettings {
  /** Image of the sidecar (the Flagwright image runs both the operator and the sidecar). */
  image: string;
  /** Default flags ConfigMap name (the operator's --configmap-name). */
  configMapName: string;
  /** Port the sidecar serves OFREP on, loopback only. */
  port?: number;
  imagePullPolicy?: string;
}

type JsonPatchOp = { op: "add" | "replace"; path: string; value: unknown };

const escapePointer = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");

/** Whether a pod asked for the sidecar (label or annotation flagwright.dev/inject: "true"). */
export function wantsInjection(pod: V1Pod): boolean {
  return pod.metadata?.labels?.[INJECT_KEY] === "true" || pod.metadata?.annotations?.[INJECT_KEY] === "true";
}

/** Whether the pod already has the sidecar (an earlier injection, or added by hand). */
export function alreadyInjected(pod: V1Pod): boolean {
  const names = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name);
  return names.includes(SIDECAR_CONTAINER) || pod.metadata?.annotations?.[INJECTED_ANNOTATION] !== undefined;
}

/** The sidecar container for a pod in `namespace`. */
export function sidecarContainer(pod: V1Pod, namespace: string, settings: InjectionSettings): V1Container {
  const port = settings.port ?? 8016;
  const annotations = pod.metadata?.annotations ?? {};
  const configMap = annotations[CONFIGMAP_ANNOTATION] || settings.configMapName;
  const watch = annotations[SOURCE_ANNOTATION] === "watch";
  // The sidecar listens on loopback only, so the kubelet (outside the pod's network namespace)
  // cannot reach it over HTTP: the probes run the image's node against 127.0.0.1.
  const probe = (path: string) => ({
    exec: {
      command: [
        "/nodejs/bin/node",
        "-e",
        `fetch("http://127.0.0.1:${port}${path}").then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))`,
      ],
    },
  });
  return {
    name: SIDECAR_CONTAINER,
    image: settings.image,
    ...(settings.imagePullPolicy ? { imagePullPolicy: settings.imagePullPolicy } : {}),
    // A native sidecar: started before the app containers, stopped after them.
    restartPolicy: "Always",
    args: [
      "sidecar",
      `--listen=127.0.0.1:${port}`,
      ...(watch ? [`--configmap=${namespace}/${configMap}`] : [`--file=${FLAGS_MOUNT}`]),
    ],
    env: [{ name: "FLAGWRIGHT_SIDECAR_SOURCE", value: watch ? "watch" : "volume" }],
    // Startup gates the app containers until the first good document is loaded.
    startupProbe: { ...probe("/readyz"), periodSeconds: 1, failureThreshold: 120, timeoutSeconds: 5 },
    readinessProbe: { ...probe("/readyz"), periodSeconds: 10, timeoutSeconds: 5 },
    livenessProbe: { ...probe("/healthz"), periodSeconds: 20, timeoutSeconds: 5 },
    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65532,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    ...(watch ? {} : { volumeMounts: [{ name: FLAGS_VOLUME, mountPath: FLAGS_MOUNT, readOnly: true }] }),
  } as V1Container;
}

/** The JSON patch that injects the sidecar, or undefined when the pod is to be left alone. */
export function injectionPatch(
  pod: V1Pod,
  namespace: string,
  settings: InjectionSettings,
): JsonPatchOp[] | undefined {
  if (!wantsInjection(pod) || alreadyInjected(pod)) return undefined;
  const ops: JsonPatchOp[] = [];
  const container = sidecarContainer(pod, namespace, settings);
  if (pod.spec?.initContainers?.length)
    ops.push({ op: "add", path: "/spec/initContainers/0", value: container });
  else ops.push({ op: "add", path: "/spec/initContainers", value: [container] });
  if (pod.metadata?.annotations?.[SOURCE_ANNOTATION] !== "watch") {
    const configMap = pod.metadata?.annotations?.[CONFIGMAP_ANNOTATION] || settings.configMapName;
    // optional: a namespace without flags yet still starts; the sidecar is ready once they exist.
    const volume = { name: FLAGS_VOLUME, configMap: { name: configMap, optional: true } };
    if (pod.spec?.volumes?.length) ops.push({ op: "add", path: "/spec/volumes/-", value: volume });
    else ops.push({ op: "add", path: "/spec/volumes", value: [volume] });
  }
  if (!pod.metadata?.annotations) ops.push({ op: "add", path: "/metadata/annotations", value: {} });
  ops.push({
    op: "add",
    path: `/metadata/annotations/${escapePointer(INJECTED_ANNOTATION)}`,
    value: settings.image,
  });
  return ops;
}

interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: { uid: string; namespace?: string; object?: V1Pod; kind?: { kind?: string } };
}

/** The AdmissionReview response for a request: always allowed, with a patch when injecting. */
export function review(body: AdmissionReview, settings: InjectionSettings) {
  // Only the v1 review the webhook configuration asks for (admissionReviewVersions: ["v1"]).
  if (body === null || typeof body !== "object" || body.kind !== "AdmissionReview")
    throw new Error("not an AdmissionReview");
  if (body.apiVersion !== "admission.k8s.io/v1")
    throw new Error(
      `unsupported AdmissionReview version ${JSON.stringify(body.apiVersion)}, want admission.k8s.io/v1`,
    );
  const request = body.request;
  if (typeof request?.uid !== "string" || request.uid === "")
    throw new Error("not an AdmissionReview request (no request.uid)");
  const pod = request.object ?? {};
  const namespace = request.namespace ?? pod.metadata?.namespace ?? "default";
  const patch =
    request.kind?.kind === undefined || request.kind.kind === "Pod"
      ? injectionPatch(pod, namespace, settings)
      : undefined;
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: {
      uid: request.uid,
      allowed: true,
      ...(patch
        ? { patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(patch)).toString("base64") }
        : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The HTTPS server.

/** Largest AdmissionReview accepted: the API server's own request limit is 3 MiB. */
export const MAX_ADMISSION_BODY = 8 * 1024 * 1024;

export interface InjectionServer {
  address: AddressInfo;
  /** Swaps the serving certificate without a restart. */
  setCertificate(cert: { cert: string; key: string }): void;
  stop(): Promise<void>;
}

export async function startInjectionServer(options: {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  settings: InjectionSettings;
  log?: Logger;
}): Promise<InjectionServer> {
  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (req.method === "GET" && path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (req.method !== "POST" || path !== "/inject") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    // Refusals come before reading or parsing the body; "connection: close" drops the rest of it.
    const refuse = (status: number, message: string) => {
      options.log?.warn(
        { reason: "AdmissionRequestRefused", status, err: message },
        "admission request refused",
      );
      req.removeAllListeners("data");
      res.writeHead(status, { "content-type": "text/plain", connection: "close" }).end(`${message}\n`);
    };
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
    if (contentType !== "application/json") {
      refuse(415, "an AdmissionReview must be sent as application/json");
      return;
    }
    if (Number(req.headers["content-length"]) > MAX_ADMISSION_BODY) {
      refuse(413, `request body exceeds ${MAX_ADMISSION_BODY} bytes`);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ADMISSION_BODY) {
        refuse(413, `request body exceeds ${MAX_ADMISSION_BODY} bytes`);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (res.headersSent) return;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as AdmissionReview;
        const answer = review(body, options.settings);
        if (answer.response.patchType) {
          options.log?.info(
            {
              namespace: body.request?.namespace,
              pod: body.request?.object?.metadata?.name ?? body.request?.object?.metadata?.generateName,
              reason: "Injected",
            },
            "injected the flagwright sidecar",
          );
        }
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
      } catch (error) {
        options.log?.warn(
          { reason: "BadAdmissionReview", err: (error as Error).message },
          "bad admission request",
        );
        res.writeHead(400, { "content-type": "text/plain" }).end(`${(error as Error).message}\n`);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    setCertificate: (tls) => server.setSecureContext({ cert: tls.cert, key: tls.key }),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Certificate storage and caBundle patching.

const jsonPatch = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);

function covers(cert: string, hosts: { dnsNames?: string[]; ipAddresses?: string[] }, now: Date): boolean {
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

/**
 * The webhook certificates from the Secret `namespace/name`, created with a new CA when it does
 * not exist. Replicas race safely: the loser of a create gets 409 and reads the winner's Secret.
 * A stored serving certificate that no longer covers the names (or expires within 30 days) is
 * re-issued from the stored CA in memory, so the caBundle stays valid.
 */
export async function loadOrCreateCertificates(
  kc: KubeConfig,
  namespace: string,
  name: string,
  hosts: { dnsNames?: string[]; ipAddresses?: string[] },
  now = new Date(),
): Promise<WebhookCertificates> {
  const core = kc.makeApiClient(CoreV1Api);
  const decode = (data: Record<string, string> | undefined, key: string) =>
    data?.[key] ? Buffer.from(data[key], "base64").toString("utf8") : "";
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const secret = await core.readNamespacedSecret({ namespace, name });
      const stored = {
        caCert: decode(secret.data, "ca.crt"),
        caKey: decode(secret.data, "ca.key"),
        cert: decode(secret.data, "tls.crt"),
        key: decode(secret.data, "tls.key"),
      };
      if (!stored.caCert || !stored.caKey)
        throw new Error(`Secret ${namespace}/${name} lacks ca.crt or ca.key`);
      if (stored.cert && stored.key && covers(stored.cert, hosts, now)) return stored;
      return { ...stored, ...issueServing(stored, hosts, now) };
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
    }
    const fresh = generateCertificates(hosts, now);
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    try {
      await core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name, namespace, labels: { "app.kubernetes.io/managed-by": "flagwright" } },
          type: "Opaque",
          data: {
            "ca.crt": b64(fresh.caCert),
            "ca.key": b64(fresh.caKey),
            "tls.crt": b64(fresh.cert),
            "tls.key": b64(fresh.key),
          },
        },
      });
      return fresh;
    } catch (error) {
      if ((error as { code?: number }).code !== 409) throw error;
    }
  }
  throw new Error(`could not read or create the webhook certificate Secret ${namespace}/${name}`);
}

/**
 * Writes the CA into every webhook's caBundle of a MutatingWebhookConfiguration (if it differs).
 * The patch is conditional on the resourceVersion read; a concurrent writer makes it re-read.
 */
export async function patchCaBundle(kc: KubeConfig, configName: string, caCert: string): Promise<boolean> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const bundle = Buffer.from(caCert).toString("base64");
  for (let attempt = 1; ; attempt++) {
    const config = await api.readMutatingWebhookConfiguration({ name: configName });
    const ops = (config.webhooks ?? []).flatMap((w, i) =>
      w.clientConfig.caBundle === bundle
        ? []
        : [
            {
              op: w.clientConfig.caBundle ? "replace" : "add",
              path: `/webhooks/${i}/clientConfig/caBundle`,
              value: bundle,
            },
          ],
    );
    if (ops.length === 0) return false;
    try {
      await api.patchMutatingWebhookConfiguration(
        {
          name: configName,
          body: [
            { op: "test", path: "/metadata/resourceVersion", value: config.metadata?.resourceVersion },
            ...ops,
          ],
        },
        jsonPatch,
      );
      return true;
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (attempt >= 5 || (code !== 409 && code !== 422)) throw error;
    }
  }
}

/** Options of `flagwright operator --injection-address ...`. */
export interface InjectionOptions {
  address: string;
  settings: InjectionSettings;
  /** Secret (in `namespace`) keeping the CA and serving certificate; without it they live in memory. */
  certSecret?: string;
  namespace: string;
  /** MutatingWebhookConfiguration whose caBundle is patched. */
  webhookConfig?: string;
  dnsNames: string[];
  ipAddresses?: string[];
}

/** Loads (or generates) the certificate, patches caBundle and serves the webhook. */
export async function startInjection(
  kc: KubeConfig,
  options: InjectionOptions,
  log: Logger,
): Promise<InjectionServer> {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(options.address);
  if (!m) throw new Error(`--injection-address must be host:port or :port, got "${options.address}"`);
  const host = m[1] ?? (m[2] || "0.0.0.0");
  const hosts = { dnsNames: options.dnsNames, ipAddresses: options.ipAddresses ?? [] };
  const certs = options.certSecret
    ? await loadOrCreateCertificates(kc, options.namespace, options.certSecret, hosts)
    : generateCertificates(hosts);
  const server = await startInjectionServer({
    host,
    port: Number(m[3]),
    tls: certs,
    settings: options.settings,
    log,
  });
  if (options.webhookConfig) {
    try {
      const patched = await patchCaBundle(kc, options.webhookConfig, certs.caCert);
      log.info(
        { reason: patched ? "CaBundlePatched" : "CaBundleCurrent", webhook: options.webhookConfig },
        "webhook caBundle",
      );
    } catch (error) {
      await server.stop();
      throw new Error(
        `patching caBundle of MutatingWebhookConfiguration ${options.webhookConfig}: ${(error as Error).message}`,
      );
    }
  }
  log.info(
    { reason: "InjectionStarted", address: `${server.address.address}:${server.address.port}` },
    "sidecar injection webhook serving",
  );
  return server;
}
