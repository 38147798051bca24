// `flagwright sidecar`, the command every pod runs. The build bundles it into one file of its own
// (scripts/bundle.ts), so a sidecar starts by loading two files rather than a dozen shared chunks.
import { registerSidecarCommand } from "./commands/sidecar.js";
import { buildSingleCommandProgram } from "./single-command.js";

export async function runSidecarCommand(argv: string[]): Promise<void> {
  await buildSingleCommandProgram(registerSidecarCommand).parseAsync(argv);
}
