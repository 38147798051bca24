#!/usr/bin/env node
// `flagwright sidecar` runs in every pod, so it loads only its own command: not the operator's,
// validate's or refs' modules (Kubernetes client, CRD schema, CEL), which cost it ~8 MiB of RSS
// and start-up time for nothing. `flagwright operator` likewise loads only its own. Every other
// invocation builds the whole program.
try {
  const command = process.argv[2];
  if (command === "sidecar" || command === "operator") {
    const { buildSingleCommandProgram } = await import("./single-command.js");
    const register =
      command === "sidecar"
        ? (await import("./commands/sidecar.js")).registerSidecarCommand
        : (await import("./commands/operator.js")).registerOperatorCommand;
    await buildSingleCommandProgram(register).parseAsync(process.argv);
  } else {
    await (await import("./program.js")).buildProgram().parseAsync(process.argv);
  }
} catch (error) {
  // Bad input gets one clear line, not a stack trace.
  console.error(`flagwright: ${(error as Error).message}`);
  process.exit(1);
}
