// The `flagwright` command. Each subcommand lives in its own module under src/cli/commands and
// registers itself here.

import { readFileSync } from "node:fs";
import { Command, Help } from "commander";
import { registerEvalCommand } from "./commands/eval.js";
import { registerOperatorCommand } from "./commands/operator.js";
import { registerRefsCommand } from "./commands/refs.js";
import { registerSidecarCommand } from "./commands/sidecar.js";
import { registerValidateCommand } from "./commands/validate.js";

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

const ITEM_INDENT = 2;
const NARROW_DESCRIPTION = 40;

/**
 * Commander's item layout (term, then its description wrapped beside it), except that where long
 * option names leave the description column narrower than 40 characters, the description goes
 * on its own lines below the term, wrapped at whole words to the full width, instead of running
 * unwrapped past the edge of the terminal.
 */
function formatHelpItem(
  this: Help,
  term: string,
  termWidth: number,
  description: string,
  helper: Help,
): string {
  const width = helper.helpWidth ?? 80;
  if (!description || width - termWidth - 2 - ITEM_INDENT >= NARROW_DESCRIPTION) {
    return Help.prototype.formatItem.call(this, term, termWidth, description, helper);
  }
  const indent = " ".repeat(ITEM_INDENT * 3);
  const wrapped = helper.boxWrap(description, width - indent.length);
  return `${" ".repeat(ITEM_INDENT)}${term}\n${indent}${wrapped.replace(/\n/g, `\n${indent}`)}`;
}
