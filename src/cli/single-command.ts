// The `flagwright` program reduced to one command (see main.ts): the same options and help as the
// full program's, without the other commands' modules (the operator does not load the sidecar's
// server, validate's CRD schema or CEL; the sidecar not the Kubernetes client), which cost each
// several MiB of RSS for nothing.
import { Command } from "commander";
import { formatHelpItem } from "./help.js";

export function buildSingleCommandProgram(register: (program: Command) => void): Command {
  const program = new Command()
    .name("flagwright")
    .showHelpAfterError()
    .configureHelp({ formatItem: formatHelpItem });
  register(program);
  return program;
}
