import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import { parseDuration } from "../../api/duration.js";
import { DEFAULT_CONFIGMAP_NAME } from "../../core/index.js";
import {
  type ExperimentEventReader,
  eventStoreUrlProblem,
  postgresEventReader,
} from "../../experiment/event-store.js";
import { loadKubeConfig } from "../../kube/kubeconfig.js";
import { createLogger } from "../../log.js";
import type { AdmissionServer } from "../../operator/injection/admission-server.js";

interface OperatorFlags {
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
function readSecret(path: string, flag: string): string {
  try {
    const value = readFileSync(path, "utf8").trim();
    if (!value) throw new Error("file is empty");
    return value;
  } catch (error) {
    throw new Error(`${flag} ${path}: ${(error as Error).message}`);
  }
}

export function registerOperatorCommand(program: Command): void {
  program
    .command("operator")
    .description(
      "Run the operator: watch FeatureFlags, project each namespace's resolved flags into a ConfigMap " +
        "(server-side apply, field manager flagwright), ramp canaries and report status. Never writes spec.",
    )
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
    .option("--workers <n>", "namespaces reconciled in parallel", "4")
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
    .option("--shutdown-timeout <duration>", "how long SIGTERM waits for in-flight reconciles", "10s")
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
    )
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
    )
    .addOption(
      new Option("--log-level <level>", "log level")
        .choices(["debug", "info", "warn", "error"])
        .default("info"),
    )
    .action(async (flags: OperatorFlags) => {
      // Loaded here, not at the top: every CLI command shares this module graph, and the
      // Kubernetes client alone is ~70 MiB of a file-mode sidecar's memory.
      const [kc, { Operator }, { admissionOptions, startAdmission }] = await Promise.all([
        loadKubeConfig({ kubeconfig: flags.kubeconfig }),
        import("../../operator/operator.js"),
        import("../../operator/injection/admission.js"),
      ]);
      const log = createLogger("operator", flags.logLevel);
      const workers = Number(flags.workers);
      if (!Number.isInteger(workers) || workers < 1)
        throw new Error(`--workers must be a positive integer, got "${flags.workers}"`);
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
      let eventStore: ExperimentEventReader | undefined;
      if (flags.eventStoreUrlFile) {
        const field = `--event-store-url-file ${flags.eventStoreUrlFile}`;
        const url = readSecret(flags.eventStoreUrlFile, "--event-store-url-file");
        const problem = eventStoreUrlProblem(url, field);
        if (problem) throw new Error(problem);
        eventStore = await postgresEventReader(url);
      }
      const webhookTokenFile = flags.webhookTokenFile;
      if (webhookTokenFile) readSecret(webhookTokenFile, "--webhook-token-file");
      const operator = new Operator({
        kc,
        log,
        namespaces: flags.namespaces
          ?.split(",")
          .map((n) => n.trim())
          .filter(Boolean),
        configMapName: flags.configmapName,
        httpAddress: flags.httpAddress,
        workers,
        prometheus: flags.prometheusUrl
          ? {
              address: flags.prometheusUrl,
              bearerToken: flags.prometheusBearerTokenFile
                ? readSecret(flags.prometheusBearerTokenFile, "--prometheus-bearer-token-file")
                : undefined,
              basicAuth: basic
                ? {
                    username: basic.slice(0, basic.indexOf(":")),
                    password: basic.slice(basic.indexOf(":") + 1),
                  }
                : undefined,
              caFile: flags.prometheusCaFile,
              timeoutMs: parseDuration(flags.prometheusTimeout),
            }
          : undefined,
        prometheusAllowedAddresses: flags.prometheusAllowedAddress,
        promqlNamespaceEnforcement: flags.promqlNamespaceEnforcement,
        webhookToken: webhookTokenFile
          ? () => readSecret(webhookTokenFile, "--webhook-token-file")
          : undefined,
        rollout: {
          rollbackAfterUnavailableMs: flags.rollbackAfterUnavailable
            ? parseDuration(flags.rollbackAfterUnavailable)
            : undefined,
        },
        analysisTickMs: parseDuration(flags.analysisTick),
        experimentIntervalMs: parseDuration(flags.experimentInterval),
        ...(eventStore !== undefined && { eventStore }),
        informer: { watchTimeoutSeconds: Math.max(1, Math.round(parseDuration(flags.watchTimeout) / 1000)) },
        leaderElection: flags.leaderElect
          ? {
              namespace: flags.leaderElectionNamespace,
              name: flags.leaderElectionId,
              leaseDurationMs: parseDuration(flags.leaderElectionLeaseDuration),
              renewDeadlineMs: parseDuration(flags.leaderElectionRenewDeadline),
              retryPeriodMs: parseDuration(flags.leaderElectionRetryPeriod),
            }
          : undefined,
      });
      const shutdownMs = parseDuration(flags.shutdownTimeout);
      let admission: AdmissionServer | undefined;
      let stopping = false;
      const shutdown = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ reason: signal }, "shutting down");
        await admission?.stop();
        // Bounded: a hung API request must not keep a terminating Pod (or a test) waiting forever.
        const forced = new Promise<"forced">((resolve) =>
          setTimeout(() => resolve("forced"), shutdownMs + 5_000).unref(),
        );
        if ((await Promise.race([operator.stop(shutdownMs), forced])) === "forced") {
          log.warn({ reason: "ShutdownTimeout" }, "shutdown did not finish in time; exiting anyway");
        }
        log.info({ reason: "Stopped" }, "stopped");
        process.exit(0);
      };
      process.on("SIGTERM", () => void shutdown("SIGTERM"));
      process.on("SIGINT", () => void shutdown("SIGINT"));
      try {
        // The admission webhooks serve on every replica (not only the leader), before the operator starts.
        const admissionNamespace = process.env.POD_NAMESPACE ?? flags.leaderElectionNamespace;
        const admissionServed = admissionOptions(flags, admissionNamespace);
        if (admissionServed) admission = await startAdmission(kc, admissionServed, log);
        await operator.start();
      } catch (error) {
        const missing = (error as { missing?: string[] }).missing;
        log.fatal(
          { reason: missing ? "MissingPermissions" : "StartFailed", missing, err: (error as Error).message },
          "cannot start",
        );
        process.exit(1);
      }
      const address = operator.httpAddress;
      log.info(
        {
          reason: "Started",
          identity: operator.identity,
          http: address && `${address.host}:${address.port}`,
          namespaces: flags.namespaces ?? "all",
        },
        "operator started",
      );
    });
}
