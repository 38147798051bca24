// The operator's one admission server: one certificate (kept in one Secret, or in memory), one
// HTTPS server with a route per enabled webhook (POST /inject, POST /validate), and the caBundle
// of each webhook configuration kept on that one CA.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { type HostPort, parseHostPort } from "../../host-port.js";
import { VALIDATION_PATH, validationRoute } from "../validation-webhook.js";
import { type AdmissionHandler, type AdmissionServer, startAdmissionServer } from "./admission-server.js";
import { installCaBundle, type WebhookConfigKind } from "./ca-bundle.js";
import { loadOrCreateCertificates } from "./certificate-secret.js";
import { generateCertificates } from "./certificates.js";
import type { InjectionSettings } from "./mutation.js";
import { INJECTION_PATH, injectionRoute } from "./webhook.js";

/** What the admission server serves, resolved from the flags by admissionOptions. */
export interface AdmissionOptions {
  host: string;
  port: number;
  /** Secret (in `namespace`) keeping the CA and serving certificate; without it they live in memory. */
  certSecret?: string;
  namespace: string;
  dnsNames: string[];
  ipAddresses: string[];
  /** The /inject route, and the MutatingWebhookConfiguration whose caBundle is patched. */
  injection?: { settings: InjectionSettings; webhookConfig?: string };
  /** The /validate route, and the ValidatingWebhookConfiguration whose caBundle is patched. */
  validation?: { webhookConfig?: string };
}

/** The flags of `flagwright operator` that configure the admission server. */
export interface AdmissionFlags {
  injectionAddress?: string;
  injectionWebhookConfig?: string;
  injectionCertSecret?: string;
  injectionDnsNames?: string;
  sidecarImage?: string;
  configmapName: string;
  validationAddress?: string;
  validationWebhookConfig?: string;
  validationCertSecret?: string;
  validationDnsNames?: string;
}

const list = (text: string | undefined) =>
  (text ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);

/**
 * The admission server the flags ask for, or undefined when neither route is on. Each of
 * --injection-address and --validation-address turns its route on; given both, they name the one
 * server and must agree, as must the two certificate Secrets. The certificate covers the DNS names
 * of every route that is on ("localhost" when none are given) and 127.0.0.1.
 */
export function admissionOptions(flags: AdmissionFlags, namespace: string): AdmissionOptions | undefined {
  const inject = flags.injectionAddress;
  const validate = flags.validationAddress;
  if (inject === undefined && validate === undefined) return undefined;
  if (inject !== undefined && !flags.sidecarImage)
    throw new Error("--injection-address needs --sidecar-image");
  const address = sameValue(
    inject !== undefined ? parseAddress(inject, "--injection-address") : undefined,
    validate !== undefined ? parseAddress(validate, "--validation-address") : undefined,
    (a, b) => a.host === b.host && a.port === b.port,
    `--injection-address (${inject}) and --validation-address (${validate}) must name the same address: one HTTPS server serves /inject and /validate`,
  ) as HostPort & { host: string };
  const certSecret = sameValue(
    inject !== undefined ? flags.injectionCertSecret : undefined,
    validate !== undefined ? flags.validationCertSecret : undefined,
    (a, b) => a === b,
    `--injection-cert-secret (${flags.injectionCertSecret}) and --validation-cert-secret (${flags.validationCertSecret}) must name the same Secret: one certificate serves both webhooks`,
  );
  const dnsNames = [
    ...new Set([
      ...(inject !== undefined ? list(flags.injectionDnsNames) : []),
      ...(validate !== undefined ? list(flags.validationDnsNames) : []),
    ]),
  ];
  return {
    ...address,
    ...(certSecret !== undefined && { certSecret }),
    namespace,
    dnsNames: dnsNames.length > 0 ? dnsNames : ["localhost"],
    ipAddresses: ["127.0.0.1"],
    ...(inject !== undefined && {
      injection: {
        settings: { image: flags.sidecarImage as string, configMapName: flags.configmapName },
        webhookConfig: flags.injectionWebhookConfig,
      },
    }),
    ...(validate !== undefined && { validation: { webhookConfig: flags.validationWebhookConfig } }),
  };
}

const parseAddress = (value: string, flag: string) => parseHostPort(value, { flag, defaultHost: "0.0.0.0" });

/** The one value of two optional ones; throws `conflict` when both are given and differ. */
function sameValue<T>(a: T | undefined, b: T | undefined, equal: (a: T, b: T) => boolean, conflict: string) {
  if (a !== undefined && b !== undefined && !equal(a, b)) throw new Error(conflict);
  return a ?? b;
}

/**
 * Loads (or generates) the one certificate, serves every enabled route on one HTTPS server and
 * patches the CA into each webhook configuration named. Serves on every replica, not only the
 * leader.
 */
export async function startAdmission(
  kc: KubeConfig,
  options: AdmissionOptions,
  log: Logger,
): Promise<AdmissionServer> {
  const hosts = { dnsNames: options.dnsNames, ipAddresses: options.ipAddresses };
  const certs = options.certSecret
    ? await loadOrCreateCertificates(kc, options.namespace, options.certSecret, hosts, { log })
    : generateCertificates(hosts);
  const routes: Record<string, AdmissionHandler> = {};
  const configs: [WebhookConfigKind, string | undefined][] = [];
  if (options.injection) {
    routes[INJECTION_PATH] = injectionRoute(options.injection.settings, log);
    configs.push(["MutatingWebhookConfiguration", options.injection.webhookConfig]);
  }
  if (options.validation) {
    routes[VALIDATION_PATH] = validationRoute(log);
    configs.push(["ValidatingWebhookConfiguration", options.validation.webhookConfig]);
  }
  const server = await startAdmissionServer({
    host: options.host,
    port: options.port,
    tls: certs,
    routes,
    log,
  });
  for (const [kind, name] of configs) {
    if (name) await installCaBundle(kc, kind, name, certs.caCert, log, () => server.stop());
  }
  const address = `${server.address.address}:${server.address.port}`;
  if (options.injection)
    log.info({ reason: "InjectionStarted", address }, "sidecar injection webhook serving");
  if (options.validation)
    log.info({ reason: "ValidationStarted", address }, "targeting validation webhook serving");
  return server;
}
