// The `flagwright` command. Each subcommand lives in its own module under src/cli/commands and
// registers itself here.

import { readFileSync } from "node:fs";
import { Command } from "commander";
import { registerEvalCommand } from "./commands/eval.js";
import { registerOperatorCommand } from "./commands/operator.js";
import { registerRefsCommand } from "./commands/refs.js";
import { registerSidecarCommand } from "./commands/sidecar.js";
import { registerValidateCommand } from "./commands/validate.js";
import { formatHelpItem } from "./help.js";

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

export function buildProgram(): Command {
  const program = new Command()
    .name("flagwright")
    .description(
      "GitOps feature flags and progressive delivery for Kubernetes.\n" +
        "FeatureFlag resources are resolved by the operator into ConfigMaps; sidecars and the " +
        'in-process provider evaluate them deterministically (sha256("key:user") % 100).',
    )
    .version(version)
    .showHelpAfterError()
    .configureHelp({ formatItem: formatHelpItem });
  registerOperatorCommand(program);
  registerValidateCommand(program);
  registerEvalCommand(program);
  registerSidecarCommand(program);
  registerRefsCommand(program);
  return program;
}
