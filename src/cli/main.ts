#!/usr/bin/env node
// `flagwright sidecar` runs in every pod, so it loads only its own command: not the operator's,
// validate's or refs' modules (Kubernetes client, CRD schema, CEL), which cost it ~8 MiB of RSS
// and start-up time for nothing. `flagwright operator` likewise loads only its own. Every other
// invocation builds the whole program.
try {
  const command = process.argv[2];
  if (command === "sidecar") {
    await (await import("./sidecar-main.js")).runSidecarCommand(process.argv);
  } else if (command === "operator") {
    const { buildSingleCommandProgram } = await import("./single-command.js");
    const { registerOperatorCommand } = await import("./commands/operator.js");
    await buildSingleCommandProgram(registerOperatorCommand).parseAsync(process.argv);
  } else {
    await (await import("./program.js")).buildProgram().parseAsync(process.argv);
  }
} catch (error) {
  // Bad input gets one clear line, not a stack trace.
  console.error(`flagwright: ${(error as Error).message}`);
  process.exit(1);
}
