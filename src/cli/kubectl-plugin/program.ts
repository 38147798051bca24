// `kubectl flagwright`: show rollouts and drive them by hand without Git. Every command is a JSON
// merge patch of status.controls through the status subresource (never spec, so Argo CD sees no
// drift), guarded by a resourceVersion precondition; on a conflict it re-reads the flag, checks
// the transition again and retries.

import { Command, CommanderError } from "commander";
import { type FeatureFlag, GROUP } from "../../api/index.js";
import {
  apiMessage,
  applyControl,
  authenticatedUser,
  ControlApiError,
  findFlag,
} from "../../controls/apply.js";
import { CONTROL_COMMANDS, type ControlCommand, TransitionError } from "../../controls/transitions.js";
import { registerDashboardCommand } from "../../dashboard/command.js";
import { CustomObjectsApi } from "../../kube/client.js";
import { listFeatureFlags } from "../../kube/featureflags.js";
import { loadKubeConfig } from "../../kube/kubeconfig.js";
import { registerExperimentCommands } from "./experiments.js";
import { statusTable } from "./table.js";

export interface PluginIO {
  out: (text: string) => void;
  err: (text: string) => void;
  now?: () => Date;
  /** Test seam: runs after the flag is read and before the patch is sent (attempt is 1-based). */
  beforeWrite?: (attempt: number) => Promise<void>;
}

const defaultIO: PluginIO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

class PluginError extends Error {}

interface GlobalOptions {
  namespace?: string;
  kubeconfig?: string;
  context?: string;
}

async function connect(options: GlobalOptions) {
  const kc = await loadKubeConfig(options);
  const context = kc.getContextObject(kc.getCurrentContext());
  const namespace = options.namespace ?? context?.namespace ?? "default";
  return { kc, api: kc.makeApiClient(CustomObjectsApi), namespace };
}

async function getFlag(api: CustomObjectsApi, namespace: string, name: string): Promise<FeatureFlag> {
  try {
    return await findFlag(api, namespace, name);
  } catch (error) {
    throw new PluginError((error as Error).message);
  }
}

async function listFlags(api: CustomObjectsApi, namespace: string): Promise<FeatureFlag[]> {
  return (await listFeatureFlags(api, namespace)).items;
}

async function runControl(
  command: ControlCommand,
  flagName: string,
  options: GlobalOptions & { reason?: string; full?: boolean },
  io: PluginIO,
): Promise<void> {
  const { kc, api, namespace } = await connect(options);
  const by = await authenticatedUser(kc);
  const { name, plan } = await applyControl(api, {
    command,
    flag: flagName,
    namespace,
    by,
    ...(io.now && { now: io.now }),
    ...(options.reason !== undefined && { reason: options.reason }),
    ...(options.full !== undefined && { full: options.full }),
    ...(io.beforeWrite && { beforeWrite: io.beforeWrite }),
  });
  io.out(`featureflag.${GROUP}/${name} (namespace ${namespace}): ${plan.summary}\n`);
  for (const change of plan.changes) io.out(`  ${change}\n`);
  for (const warning of plan.warnings) io.err(`warning: ${warning}\n`);
}

export function buildPluginProgram(io: PluginIO = defaultIO): Command {
  const program = new Command()
    .name("kubectl flagwright")
    .description(
      "Show and drive Flagwright rollouts. Every command patches the FeatureFlag's status subresource\n" +
        "(status.controls), never its spec, so Git and Argo CD stay in sync.",
    )
    .option("-n, --namespace <namespace>", "namespace of the flags (default: the context's, else default)")
    .option("--kubeconfig <file>", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    .option("--context <name>", "kubeconfig context to use")
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });

  registerStatusCommand(program, io);
  registerControlCommands(program, io);
  registerExperimentCommands(program, {
    out: io.out,
    err: io.err,
    now: io.now ?? (() => new Date()),
    connect,
    getFlag,
    fail: (message) => new PluginError(message),
  });
  registerDashboardCommand(program);
  return program;
}

/** `status [flag]`: the table of the namespace's flags, or of one. */
function registerStatusCommand(program: Command, io: PluginIO): void {
  program
    .command("status")
    .description("table of flags: key, phase, step, current %, target %, last analysis, rollback reason")
    .argument("[flag]", "flag name or key (default: every flag in the namespace)")
    .action(async (flagName: string | undefined, _opts, cmd: Command) => {
      const options = cmd.optsWithGlobals<GlobalOptions>();
      const { api, namespace } = await connect(options);
      const flags = flagName
        ? [await getFlag(api, namespace, flagName)]
        : await listFlags(api, namespace).catch((error: unknown) => {
            throw new PluginError(
              `cannot list featureflags in namespace "${namespace}": ${apiMessage(error)}`,
            );
          });
      if (flags.length === 0) {
        io.err(`No featureflags found in namespace ${namespace}.\n`);
        return;
      }
      io.out(statusTable(flags, (io.now ?? (() => new Date()))()));
    });
}

const CONTROL_DESCRIPTIONS: Record<ControlCommand, string> = {
  kill: "emergency off: the flag serves off until revived (survives operator restarts)",
  revive: "turn the kill switch off again",
  pause: "hold the canary at its current step",
  resume: "continue a paused canary",
  promote: "advance the canary one step now (--full: straight to the target)",
  abort: "roll the canary back to 0% (a manual rollback)",
  retry: "restart a rolled back canary from its first step",
};

/** One command per manual control (kill, revive, pause...), each a status.controls patch. */
function registerControlCommands(program: Command, io: PluginIO): void {
  for (const command of CONTROL_COMMANDS) {
    const sub = program
      .command(command)
      .description(CONTROL_DESCRIPTIONS[command])
      .argument("<flag>", "flag name or key");
    if (command === "kill" || command === "abort" || command === "pause" || command === "retry") {
      sub.option("--reason <text>", "why, recorded in status and the operator's events");
    }
    if (command === "promote") sub.option("--full", "promote straight to the target percent");
    sub.action(async (flagName: string, _opts, cmd: Command) => {
      await runControl(command, flagName, cmd.optsWithGlobals(), io);
    });
  }
}

/** Runs the plugin with argv (without node and script); resolves with the exit code. */
export async function runPlugin(argv: string[], io: PluginIO = defaultIO): Promise<number> {
  const program = buildPluginProgram(io);
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 1;
    }
    if (
      error instanceof TransitionError ||
      error instanceof PluginError ||
      error instanceof ControlApiError
    ) {
      io.err(`error: ${error.message}\n`);
      return 1;
    }
    io.err(`error: ${apiMessage(error)}\n`);
    return 1;
  }
}
