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
import { addOperatorOptions, type OperatorFlags, operatorOptions } from "./operator-options.js";

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
 * The one admission server (routes /inject and /validate, one certificate), served on every
 * replica (not only the leader) and started before the operator's own parts; none when neither
 * --injection-address nor --validation-address is given.
 */
async function admissionWebhooks(kc: KubeConfig, flags: OperatorFlags, log: Logger): Promise<Runnable[]> {
  const { admissionOptions, startAdmission } = await import("../../operator/injection/admission.js");
  const options = admissionOptions(flags, process.env.POD_NAMESPACE ?? flags.leaderElectionNamespace);
  if (!options) return [];
  let server: { stop(): Promise<void> } | undefined;
  return [
    {
      name: "admission-server",
      needsLeadership: false,
      start: async () => {
        server = await startAdmission(kc, options, log);
      },
      stop: async () => server?.stop(),
    },
  ];
}
