// `flagwright eval`: evaluates one flag of a resolved flag document for an evaluation context, as
// the sidecar would, from the command line (for debugging a rule or a bucket).
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { DocumentError, evaluate, parseDocument } from "../../core/index.js";

interface EvalFlags {
  config: string;
  flag: string;
  user?: string;
  context?: string;
}

export function registerEvalCommand(program: Command): void {
  program
    .command("eval")
    .description(
      "Evaluate one flag from a resolved flag document (flags.json, the ConfigMap content) for one user " +
        "and print the OpenFeature resolution details as JSON. Same code as the sidecar and provider.",
    )
    .requiredOption("--config <file>", "resolved flag document (flags.json)")
    .requiredOption("--flag <key>", "flag key")
    .option("--user <id>", "targeting key (user id); overrides context.targetingKey")
    .option("--context <json>", 'evaluation context as a JSON object, e.g. \'{"targetingKey":"42"}\'')
    .action((flags: EvalFlags, command: Command) => {
      let text: string;
      try {
        text = readFileSync(flags.config, "utf8");
      } catch (error) {
        command.error(`error: cannot read ${flags.config}: ${(error as Error).message}`, { exitCode: 2 });
      }
      let document: ReturnType<typeof parseDocument>;
      try {
        document = parseDocument(text);
      } catch (error) {
        const problems = error instanceof DocumentError ? error.problems : [(error as Error).message];
        command.error(`error: ${flags.config} is not a valid flag document:\n  ${problems.join("\n  ")}`, {
          exitCode: 2,
        });
      }
      let context: Record<string, unknown> = {};
      if (flags.context !== undefined) {
        try {
          context = JSON.parse(flags.context) as Record<string, unknown>;
        } catch (error) {
          command.error(`error: --context is not valid JSON: ${(error as Error).message}`, { exitCode: 2 });
        }
        if (context === null || typeof context !== "object" || Array.isArray(context)) {
          command.error("error: --context must be a JSON object", { exitCode: 2 });
        }
      }
      if (flags.user !== undefined) context = { ...context, targetingKey: flags.user };
      const details = evaluate(document, flags.flag, context);
      process.stdout.write(`${JSON.stringify({ flagKey: flags.flag, ...details }, null, 2)}\n`);
      // An evaluation error (unknown flag, missing user) is an answer, but scripts should notice it.
      if (details.errorCode !== undefined) process.exitCode = 1;
    });
}
