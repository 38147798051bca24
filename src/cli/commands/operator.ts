// `flagwright operator`: parses the options (operator-options.ts), builds the operator, adds the
// admission webhooks, and runs the manager until a signal stops it or the lease is lost; the only
// place the operator process exits.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Command } from "commander";
import type { Logger } from "pino";
import { parseDuration } from "../../api/duration.js";
import { loadKubeConfig } from "../../kube/kubeconfig.js";
import { createLogger } from "../../log.js";
import type { Runnable } from "../../operator/manager.js";
import { addOperatorOptions, commaList, type OperatorFlags, operatorOptions } from "./operator-options.js";

export function registerOperatorCommand(program: Command): void {
  const command = program
    .command("operator")
    .description(
      "Run the operator: watch FeatureFlags, project each namespace's resolved flags into a ConfigMap " +
        "(server-side apply, field manager flagwright), ramp canaries and report status. Never writes spec.",
    );
  addOperatorOptions(command).action(runOperator);
}

async function runOperator(flags: OperatorFlags): Promise<void> {
  // Loaded here, not at the top: every CLI command shares this module graph, and the
  // Kubernetes client alone is ~70 MiB of a file-mode sidecar's memory.
  const [kc, { createOperator }] = await Promise.all([
    loadKubeConfig({ kubeconfig: flags.kubeconfig }),
    import("../../operator/operator.js"),
  ]);
  const log = createLogger("operator", flags.logLevel);
  const options = await operatorOptions(flags, kc, log);
  const { manager, identity, http } = createOperator({
    ...options,
    runnables: await admissionWebhooks(kc, flags, log),
  });
  manager.done.then(
    () => process.exit(0),
    // The lease is lost: stop writing at once; the Deployment restarts this replica as a standby.
    () => process.exit(1),
  );
  manager.handleSignals(parseDuration(flags.shutdownTimeout));
  try {
    await manager.start();
  } catch (error) {
    const missing = (error as { missing?: string[] }).missing;
    log.fatal(
      { reason: missing ? "MissingPermissions" : "StartFailed", missing, err: (error as Error).message },
      "cannot start",
    );
    process.exit(1);
  }
  const address = http.address;
  log.info(
    {
      reason: "Started",
      identity,
      http: address && `${address.host}:${address.port}`,
      namespaces: flags.namespaces ?? "all",
    },
    "operator started",
  );
}

/**
 * The admission webhooks, served on every replica (not only the leader) and started before the
 * operator's own parts: sidecar injection (POST /inject) and targeting validation (POST /validate).
 */
async function admissionWebhooks(kc: KubeConfig, flags: OperatorFlags, log: Logger): Promise<Runnable[]> {
  const [{ startInjection }, { startValidation }] = await Promise.all([
    import("../../operator/injection/webhook.js"),
    import("../../operator/validation-webhook.js"),
  ]);
  const namespace = process.env.POD_NAMESPACE ?? flags.leaderElectionNamespace;
  const webhook = (name: string, start: () => Promise<{ stop(): Promise<void> }>): Runnable => {
    let server: { stop(): Promise<void> } | undefined;
    return {
      name,
      needsLeadership: false,
      start: async () => {
        server = await start();
      },
      stop: async () => server?.stop(),
    };
  };
  const webhooks: Runnable[] = [];
  const { injectionAddress, validationAddress } = flags;
  if (injectionAddress) {
    webhooks.push(
      webhook("injection-webhook", () => {
        if (!flags.sidecarImage) throw new Error("--injection-address needs --sidecar-image");
        const settings = { image: flags.sidecarImage, configMapName: flags.configmapName };
        const dnsNames = commaList(flags.injectionDnsNames ?? "localhost");
        const { injectionCertSecret: certSecret, injectionWebhookConfig: webhookConfig } = flags;
        const options = {
          address: injectionAddress,
          settings,
          certSecret,
          namespace,
          webhookConfig,
          dnsNames,
        };
        return startInjection(kc, { ...options, ipAddresses: ["127.0.0.1"] }, log);
      }),
    );
  }
  if (validationAddress) {
    webhooks.push(
      webhook("validation-webhook", () => {
        const dnsNames = commaList(flags.validationDnsNames ?? "localhost");
        const { validationCertSecret: certSecret, validationWebhookConfig: webhookConfig } = flags;
        return startValidation(
          kc,
          { address: validationAddress, certSecret, namespace, webhookConfig, dnsNames },
          log,
        );
      }),
    );
  }
  return webhooks;
}
