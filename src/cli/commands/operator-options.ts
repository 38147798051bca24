// The options of `flagwright operator`, by group, and their translation into the operator's
// settings. Imports nothing heavy: every CLI command shares this module graph.
import { readFileSync } from "node:fs";
import type { KubeConfig } from "@kubernetes/client-node";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { Logger } from "pino";
import { parseDuration } from "../../api/duration.js";
import { DEFAULT_CONFIGMAP_NAME } from "../../core/index.js";
import { eventStoreUrlProblem, postgresEventReader } from "../../experiment/event-store.js";
import type { OperatorOptions } from "../../operator/operator.js";
import type { PrometheusSettings } from "../../rollout/prometheus.js";

export interface OperatorFlags {
  kubeconfig?: string;
  namespaces?: string;
  configmapName: string;
  httpAddress: string;
  workers: string;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  leaderElectionLeaseDuration: string;
  leaderElectionRenewDeadline: string;
  leaderElectionRetryPeriod: string;
  shutdownTimeout: string;
  logLevel: string;
  prometheusUrl?: string;
  prometheusBearerTokenFile?: string;
  prometheusBasicAuthFile?: string;
  prometheusCaFile?: string;
  prometheusTimeout: string;
  prometheusAllowedAddress: string[];
  promqlNamespaceEnforcement: boolean;
  webhookTokenFile?: string;
  rollbackAfterUnavailable?: string;
  analysisTick: string;
  experimentInterval: string;
  eventStoreUrlFile?: string;
  watchTimeout: string;
  injectionAddress?: string;
  injectionWebhookConfig?: string;
  injectionCertSecret?: string;
  injectionDnsNames?: string;
  validationAddress?: string;
  validationWebhookConfig?: string;
  validationCertSecret?: string;
  validationDnsNames?: string;
  sidecarImage?: string;
}

/** Reads a secret file, trimmed; names the file and the flag when it cannot. */
export function readSecret(path: string, flag: string): string {
  try {
    const value = readFileSync(path, "utf8").trim();
    if (!value) throw new Error("file is empty");
    return value;
  } catch (error) {
    throw new Error(`${flag} ${path}: ${(error as Error).message}`);
  }
}

/** A comma-separated list, trimmed, without empty entries. */
const commaList = (value: string) =>
  value
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);

/** Every option of `flagwright operator`, in the order help lists them. */
export function addOperatorOptions(command: Command): Command {
  addClusterOptions(command);
  addLeaderElectionOptions(command);
  addAnalysisOptions(command);
  addAdmissionOptions(command);
  return command.addOption(
    new Option("--log-level <level>", "log level")
      .choices(["debug", "info", "warn", "error"])
      .default("info"),
  );
}

function addClusterOptions(command: Command): void {
  command
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
    .addOption(
      new Option("--namespaces <list>", "comma-separated namespaces to watch (default: all)").env(
        "FLAGWRIGHT_NAMESPACES",
      ),
    )
    .addOption(
      new Option("--configmap-name <name>", "ConfigMap written in each namespace")
        .default(DEFAULT_CONFIGMAP_NAME)
        .env("FLAGWRIGHT_CONFIGMAP_NAME"),
    )
    .addOption(
      new Option(
        "--http-address <host:port>",
        'address for /healthz, /readyz, /metrics and webhooks (":8080" = all interfaces)',
      )
        .default(":8080")
        .env("FLAGWRIGHT_HTTP_ADDRESS"),
    )
    .option("--workers <n>", "namespaces reconciled in parallel", "4");
}

function addLeaderElectionOptions(command: Command): void {
  command
    .addOption(
      new Option("--leader-elect", "run leader election on a Lease (for more than one replica)")
        .default(false)
        .env("FLAGWRIGHT_LEADER_ELECT"),
    )
    .addOption(
      new Option("--leader-election-namespace <ns>", "namespace of the Lease")
        .default(process.env.POD_NAMESPACE ?? "flagwright-system")
        .env("FLAGWRIGHT_LEADER_ELECTION_NAMESPACE"),
    )
    .option("--leader-election-id <name>", "name of the Lease", "flagwright-operator")
    .option(
      "--leader-election-lease-duration <duration>",
      "how long a standby waits after the last renewal before taking over",
      "15s",
    )
    .option(
      "--leader-election-renew-deadline <duration>",
      "how long the leader keeps trying to renew before it gives up (and exits)",
      "10s",
    )
    .option("--leader-election-retry-period <duration>", "how often the Lease is tried or renewed", "2s")
    .option("--shutdown-timeout <duration>", "how long SIGTERM waits for in-flight reconciles", "10s");
}

function addAnalysisOptions(command: Command): void {
  command
    .addOption(
      new Option("--prometheus-url <url>", "Prometheus for canary analysis (a flag may name its own)").env(
        "FLAGWRIGHT_PROMETHEUS_URL",
      ),
    )
    .option("--prometheus-bearer-token-file <path>", "bearer token for Prometheus")
    .option("--prometheus-basic-auth-file <path>", "file holding username:password for Prometheus")
    .option("--prometheus-ca-file <path>", "CA bundle that signed Prometheus' certificate")
    .option("--prometheus-timeout <duration>", "timeout per Prometheus request", "5s")
    .option(
      "--prometheus-allowed-address <url>",
      "another Prometheus a flag may name and that gets the operator's credentials (repeatable); any " +
        "other address needs a credentials Secret in the flag's namespace",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .addOption(
      new Option(
        "--promql-namespace-enforcement <bool>",
        'add namespace="<flag namespace>" to every selector of flag-authored PromQL and match only that ' +
          "namespace's alerts; false for single-tenant clusters",
      )
        .default(true)
        .argParser((value) => {
          if (value !== "true" && value !== "false") throw new InvalidArgumentError("must be true or false");
          return value === "true";
        })
        .env("FLAGWRIGHT_PROMQL_NAMESPACE_ENFORCEMENT"),
    )
    .addOption(
      new Option(
        "--webhook-token-file <path>",
        "bearer token file for POST /webhooks/alertmanager (re-read on each request; the route is off without it)",
      ).env("FLAGWRIGHT_WEBHOOK_TOKEN_FILE"),
    )
    .option(
      "--rollback-after-unavailable <duration>",
      "roll a ramping canary back when Prometheus has been unreachable this long (default: hold indefinitely)",
    )
    .option("--analysis-tick <duration>", "how often due analysis checks are looked for", "1s")
    .option(
      "--experiment-interval <duration>",
      "how often experiment results (from Prometheus) and Stale conditions are recomputed",
      "60s",
    )
    .addOption(
      new Option(
        "--event-store-url-file <path>",
        "file holding the experiment event store's URL (postgres://USER:PASSWORD@HOST:PORT/DB, from a Secret; credentials that may read every namespace's events): experiments count users once across pods and restarts from its per-user aggregate; without it they read Prometheus counters, valid for single-pod applications only",
      ).env("FLAGWRIGHT_EVENT_STORE_URL_FILE"),
    )
    .option(
      "--watch-timeout <duration>",
      "how long each watch runs before the API server ends it and the operator resumes it",
      "60s",
    );
}

function addAdmissionOptions(command: Command): void {
  command
    .option(
      "--injection-address <host:port>",
      "serve the sidecar injection webhook (POST /inject) on the one admission HTTPS server at this address; off without it. With --validation-address both routes share the server: give both the same address (see docs/install.md)",
    )
    .option("--injection-webhook-config <name>", "MutatingWebhookConfiguration whose caBundle gets the CA")
    .option(
      "--injection-cert-secret <name>",
      "Secret in the operator's namespace keeping the admission server's CA and certificate (created when missing; one for both routes)",
    )
    .option("--injection-dns-names <list>", "comma-separated names the admission certificate covers")
    .addOption(
      new Option("--sidecar-image <image>", "image of the injected sidecar").env("FLAGWRIGHT_SIDECAR_IMAGE"),
    )
    .option(
      "--validation-address <host:port>",
      "serve the targeting validation webhook (POST /validate: compiles every CEL rule and Segment) on the one admission HTTPS server at this address (the same as --injection-address when both are given)",
    )
    .option("--validation-webhook-config <name>", "ValidatingWebhookConfiguration whose caBundle gets the CA")
    .option(
      "--validation-cert-secret <name>",
      "Secret keeping the admission server's CA and certificate (the same as --injection-cert-secret when both are given)",
    )
    .option(
      "--validation-dns-names <list>",
      "comma-separated names the admission certificate covers (with --injection-dns-names)",
    );
}

/** The operator's settings from its flags; refuses bad values and unreadable secret files. */
export async function operatorOptions(
  flags: OperatorFlags,
  kc: KubeConfig,
  log: Logger,
): Promise<OperatorOptions> {
  const workers = Number(flags.workers);
  if (!Number.isInteger(workers) || workers < 1)
    throw new Error(`--workers must be a positive integer, got "${flags.workers}"`);
  const prometheus = await prometheusSettings(flags);
  const eventStore = await eventStoreReader(flags);
  const webhookTokenFile = flags.webhookTokenFile;
  if (webhookTokenFile) readSecret(webhookTokenFile, "--webhook-token-file");
  return {
    kc,
    log,
    namespaces: flags.namespaces ? commaList(flags.namespaces) : undefined,
    configMapName: flags.configmapName,
    httpAddress: flags.httpAddress,
    workers,
    prometheus,
    prometheusAllowedAddresses: flags.prometheusAllowedAddress,
    promqlNamespaceEnforcement: flags.promqlNamespaceEnforcement,
    webhookToken: webhookTokenFile ? () => readSecret(webhookTokenFile, "--webhook-token-file") : undefined,
    rollout: {
      rollbackAfterUnavailableMs: flags.rollbackAfterUnavailable
        ? parseDuration(flags.rollbackAfterUnavailable)
        : undefined,
    },
    analysisTickMs: parseDuration(flags.analysisTick),
    experimentIntervalMs: parseDuration(flags.experimentInterval),
    ...(eventStore !== undefined && { eventStore }),
    informer: { watchTimeoutSeconds: Math.max(1, Math.round(parseDuration(flags.watchTimeout) / 1000)) },
    leaderElection: flags.leaderElect ? leaderElection(flags) : undefined,
    drainDeadlineMs: parseDuration(flags.shutdownTimeout),
  };
}

function leaderElection(flags: OperatorFlags): OperatorOptions["leaderElection"] {
  return {
    namespace: flags.leaderElectionNamespace,
    name: flags.leaderElectionId,
    leaseDurationMs: parseDuration(flags.leaderElectionLeaseDuration),
    renewDeadlineMs: parseDuration(flags.leaderElectionRenewDeadline),
    retryPeriodMs: parseDuration(flags.leaderElectionRetryPeriod),
  };
}

async function prometheusSettings(flags: OperatorFlags): Promise<PrometheusSettings | undefined> {
  const basic = flags.prometheusBasicAuthFile
    ? readSecret(flags.prometheusBasicAuthFile, "--prometheus-basic-auth-file")
    : undefined;
  if (basic && !basic.includes(":"))
    throw new Error("--prometheus-basic-auth-file must hold username:password");
  const { addressProblem } = await import("../../rollout/prometheus.js");
  for (const address of [flags.prometheusUrl ?? "", ...flags.prometheusAllowedAddress]) {
    const problem = address && addressProblem(address);
    if (problem) throw new Error(`Prometheus address ${address} ${problem}`);
  }
  if (!flags.prometheusUrl) return undefined;
  return {
    address: flags.prometheusUrl,
    bearerToken: flags.prometheusBearerTokenFile
      ? readSecret(flags.prometheusBearerTokenFile, "--prometheus-bearer-token-file")
      : undefined,
    basicAuth: basic
      ? { username: basic.slice(0, basic.indexOf(":")), password: basic.slice(basic.indexOf(":") + 1) }
      : undefined,
    caFile: flags.prometheusCaFile,
    timeoutMs: parseDuration(flags.prometheusTimeout),
  };
}

async function eventStoreReader(flags: OperatorFlags): Promise<OperatorOptions["eventStore"]> {
  if (!flags.eventStoreUrlFile) return undefined;
  const field = `--event-store-url-file ${flags.eventStoreUrlFile}`;
  const url = readSecret(flags.eventStoreUrlFile, "--event-store-url-file");
  const problem = eventStoreUrlProblem(url, field);
  if (problem) throw new Error(problem);
  return await postgresEventReader(url);
}
