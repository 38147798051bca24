// The `flagwright` program reduced to its sidecar command (see main.ts): same options and help.
import { Command } from "commander";
import { registerSidecarCommand } from "./commands/sidecar.js";

export function buildSidecarProgram(): Command {
  const program = new Command().name("flagwright").showHelpAfterError();
  registerSidecarCommand(program);
  return program;
}
