// Which Prometheus a flag's analysis asks, with whose credentials: the operator's own (and its
// allow-list) or a Secret of the flag's namespace naming the address; and the confinement of
// flag-authored PromQL to the flag's namespace when the operator's credentials are used.
import type { FeatureFlag } from "../api/index.js";
import { addressProblem, normalizeAddress, type PrometheusApi, PrometheusClient } from "./prometheus.js";
import { confineToNamespace } from "./promql-namespace.js";

const PROMETHEUS_FIELD = "spec.rollout.canary.analysis.prometheus";
const SECRET_FIELD = `${PROMETHEUS_FIELD}.credentialsSecret`;

/** A Secret's data, decoded; undefined when there is no such Secret. */
export type SecretReader = (namespace: string, name: string) => Promise<Record<string, string> | undefined>;

/** Who gets which credentials: the operator's side of every flag's Prometheus. */
export interface PrometheusAccess {
  /** The operator's Prometheus (--prometheus-url, with its credentials, CA and timeout). */
  operator: PrometheusApi;
  /** Other addresses the cluster admin trusts with the operator's credentials. */
  allowedAddresses?: readonly string[];
  /**
   * Confine flag-authored PromQL and alert matching to the flag's namespace whenever the operator's
   * credentials are used (default true; off only for single-tenant clusters).
   */
  namespaceEnforcement?: boolean;
  /**
   * Reads a Secret named by analysis.prometheus.credentialsSecret (in the flag's namespace). Throws
   * with `code` 403 when RBAC does not let the operator read it.
   */
  readSecret?: SecretReader;
}

export type ResolvedPrometheus =
  | {
      client: PrometheusApi;
      /** Same key, same endpoint and credentials: one alerts request serves them all. */
      key: string;
      /** The namespace queries and alert matches are confined to, if any. */
      confineTo?: string;
    }
  | { refused: string };

/**
 * The Prometheus a flag's analysis asks, and with which credentials. The operator's credentials go
 * only to its own Prometheus and to the addresses on its allow-list; any other address needs
 * credentials from a Secret in the flag's namespace whose `address` key names that same address (so
 * a Secret's credentials, too, go only where its writer said). Anything else is refused with a reason
 * naming the field, and nothing is contacted.
 */
export async function prometheusForFlag(
  flag: Pick<FeatureFlag, "spec" | "metadata">,
  access: PrometheusAccess,
): Promise<ResolvedPrometheus> {
  const namespace = flag.metadata.namespace ?? "";
  const confineTo = access.namespaceEnforcement === false ? undefined : namespace;
  const own = flag.spec.rollout?.canary?.analysis?.prometheus;
  if (!own?.address) {
    if (own?.credentialsSecret) return { refused: `${SECRET_FIELD} needs ${PROMETHEUS_FIELD}.address` };
    return { client: access.operator, key: "operator", confineTo };
  }
  const problem = addressProblem(own.address);
  if (problem) return { refused: `${PROMETHEUS_FIELD}.address ${problem}` };
  const address = normalizeAddress(own.address);
  const secretName = own.credentialsSecret?.name;
  if (!secretName) return withOperatorCredentials(address, access, confineTo);
  return await withSecretCredentials(address, namespace, secretName, access);
}

/** The operator's configured client, when it is a real one (not a stand-in or a test double). */
const configuredClient = (access: PrometheusAccess) =>
  access.operator instanceof PrometheusClient ? access.operator : undefined;

/** A flag-named address without a Secret: only the operator's own Prometheus or its allow-list. */
function withOperatorCredentials(
  address: string,
  access: PrometheusAccess,
  confineTo: string | undefined,
): ResolvedPrometheus {
  const configured = configuredClient(access);
  if (configured && normalizeAddress(configured.address) === address)
    return { client: access.operator, key: "operator", confineTo };
  const allowed = (access.allowedAddresses ?? []).some(
    (a) => !addressProblem(a) && normalizeAddress(a) === address,
  );
  if (allowed) {
    const client = configured ? configured.withTrustedAddress(address) : new PrometheusClient({ address });
    return { client, key: address, confineTo };
  }
  return {
    refused:
      `${PROMETHEUS_FIELD}.address ${address} is neither the operator's Prometheus nor on its allow-list ` +
      "(--prometheus-allowed-address), so the operator's credentials are not sent there; name a Secret " +
      `of this namespace holding credentials for that address in ${SECRET_FIELD}`,
  };
}

/** A flag-named address with the credentials of a Secret of its namespace that names the same address. */
async function withSecretCredentials(
  address: string,
  namespace: string,
  secretName: string,
  access: PrometheusAccess,
): Promise<ResolvedPrometheus> {
  const where = `Secret ${namespace}/${secretName}`;
  const data = await readCredentialsSecret(namespace, secretName, access);
  if (typeof data === "string") return { refused: data };
  const secretAddress = data.address?.trim();
  if (!secretAddress || addressProblem(secretAddress) || normalizeAddress(secretAddress) !== address) {
    return {
      refused: `${SECRET_FIELD}: ${where} must name ${address} in its address key (its credentials go only to the address it names)`,
    };
  }
  const token = data.token?.trim();
  const { username, password } = data;
  if (!token && !(username && password)) {
    return { refused: `${SECRET_FIELD}: ${where} holds neither a token nor a username and password` };
  }
  const credentials = {
    ...(token
      ? { bearerToken: token }
      : { basicAuth: { username: username ?? "", password: password ?? "" } }),
    ...(data["ca.crt"] && { ca: data["ca.crt"] }),
  };
  const configured = configuredClient(access);
  const client = configured
    ? configured.withForeignAddress(address, credentials)
    : new PrometheusClient({ address, ...credentials });
  // The flag's own credentials bound what its queries read: nothing to confine.
  return { client, key: `${address} ${namespace}/${secretName}` };
}

/** The credentials Secret's data, or why it cannot be used. */
async function readCredentialsSecret(
  namespace: string,
  secretName: string,
  access: PrometheusAccess,
): Promise<Record<string, string> | string> {
  const where = `Secret ${namespace}/${secretName}`;
  if (!access.readSecret) return `${SECRET_FIELD}: this operator reads no Secrets`;
  let data: Record<string, string> | undefined;
  try {
    data = await access.readSecret(namespace, secretName);
  } catch (error) {
    const code = (error as { code?: number }).code;
    if (code === 403) {
      return (
        `${SECRET_FIELD}: the operator may not read ${where}; the cluster admin grants Secret reads per ` +
        "namespace (chart value prometheus.credentialSecrets.namespaces, see docs/operator.md)"
      );
    }
    return `${SECRET_FIELD}: cannot read ${where}${code ? ` (HTTP ${code})` : ""}`;
  }
  return data ?? `${SECRET_FIELD}: ${where} not found`;
}

/**
 * `client` with every query confined to `namespace` (src/rollout/promql-namespace.ts): a query that
 * cannot be confined is refused before anything is sent.
 */
export function confinedPrometheus(client: PrometheusApi, namespace: string): PrometheusApi {
  return {
    address: client.address,
    alerts: () => client.alerts(),
    query: (promql, at) => {
      let confined: string;
      try {
        confined = confineToNamespace(promql, namespace);
      } catch (error) {
        return Promise.reject(error);
      }
      return client.query(confined, at);
    },
  };
}
