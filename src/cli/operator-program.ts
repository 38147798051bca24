// The `flagwright` program reduced to its operator command (see main.ts): same options and help,
// without the other commands' modules (validate's CRD schema and CEL, the sidecar's server), which
// cost the operator about 12 MiB of RSS for nothing.
import { Command } from "commander";
import { registerOperatorCommand } from "./commands/operator.js";
import { formatHelpItem } from "./help.js";

export function buildOperatorProgram(): Command {
  const program = new Command()
    .name("flagwright")
    .showHelpAfterError()
    .configureHelp({ formatItem: formatHelpItem });
  registerOperatorCommand(program);
  return program;
}
