// The sidecar injection webhook as the operator runs it (`flagwright operator
// --injection-address ...`): certificates from a Secret (or memory), caBundle kept current, and
// the mutation served on POST /inject.
import type { KubeConfig, V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { parseHostPort } from "../../host-port.js";
import type { AdmissionReview } from "./admission-review.js";
import { type AdmissionServer, startAdmissionServer } from "./admission-server.js";
import { installCaBundle } from "./ca-bundle.js";
import { loadOrCreateCertificates } from "./certificate-secret.js";
import { generateCertificates } from "./certificates.js";
import { type InjectionSettings, review } from "./mutation.js";

export type InjectionServer = AdmissionServer;

/** Serves the injection webhook on POST /inject with this certificate. */
export function startInjectionServer(options: {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  settings: InjectionSettings;
  log?: Logger;
}): Promise<InjectionServer> {
  const inject = (body: unknown) => {
    const answer = review(body, options.settings);
    if (answer.response.patchType) {
      const request = (body as AdmissionReview<V1Pod>).request;
      options.log?.info(
        {
          namespace: request?.namespace,
          pod: request?.object?.metadata?.name ?? request?.object?.metadata?.generateName,
          reason: "Injected",
        },
        "injected the flagwright sidecar",
      );
    }
    return answer;
  };
  return startAdmissionServer({
    host: options.host,
    port: options.port,
    tls: options.tls,
    routes: { "/inject": inject },
    log: options.log,
  });
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
  const { host, port } = parseHostPort(options.address, {
    flag: "--injection-address",
    defaultHost: "0.0.0.0",
  });
  const hosts = { dnsNames: options.dnsNames, ipAddresses: options.ipAddresses ?? [] };
  const certs = options.certSecret
    ? await loadOrCreateCertificates(kc, options.namespace, options.certSecret, hosts, { log })
    : generateCertificates(hosts);
  const server = await startInjectionServer({
    host,
    port,
    tls: certs,
    settings: options.settings,
    log,
  });
  if (options.webhookConfig) {
    await installCaBundle(kc, "MutatingWebhookConfiguration", options.webhookConfig, certs.caCert, log, () =>
      server.stop(),
    );
  }
  log.info(
    { reason: "InjectionStarted", address: `${server.address.address}:${server.address.port}` },
    "sidecar injection webhook serving",
  );
  return server;
}
