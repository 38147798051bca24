// The /inject route of the operator's admission server: the sidecar mutation for pods that asked
// for it, logged per injected pod. src/operator/injection/admission.ts mounts it.
import type { V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { AdmissionReview } from "./admission-review.js";
import { type AdmissionHandler, type AdmissionServer, startAdmissionServer } from "./admission-server.js";
import { type InjectionSettings, review } from "./mutation.js";

export const INJECTION_PATH = "/inject";

export type InjectionServer = AdmissionServer;

/** The handler of POST /inject. */
export function injectionRoute(settings: InjectionSettings, log?: Logger): AdmissionHandler {
  return (body: unknown) => {
    const answer = review(body, settings);
    if (answer.response.patchType) {
      const request = (body as AdmissionReview<V1Pod>).request;
      log?.info(
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
}

/** A server with the /inject route alone (the operator mounts both routes on one, admission.ts). */
export function startInjectionServer(options: {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  settings: InjectionSettings;
  log?: Logger;
}): Promise<InjectionServer> {
  return startAdmissionServer({
    host: options.host,
    port: options.port,
    tls: options.tls,
    routes: { [INJECTION_PATH]: injectionRoute(options.settings, options.log) },
    log: options.log,
  });
}
