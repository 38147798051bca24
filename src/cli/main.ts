#!/usr/bin/env node
// `flagwright sidecar` runs in every pod, so it loads only its own command: not the operator's,
// validate's or refs' modules (Kubernetes client, CRD schema, CEL), which cost it ~8 MiB of RSS
// and start-up time for nothing. `flagwright operator` likewise loads only its own. Every other
// invocation builds the whole program.
try {
  if (process.argv[2] === "sidecar") {
    await (await import("./sidecar-program.js")).buildSidecarProgram().parseAsync(process.argv);
  } else if (process.argv[2] === "operator") {
    await (await import("./operator-program.js")).buildOperatorProgram().parseAsync(process.argv);
  } else {
    await (await import("./program.js")).buildProgram().parseAsync(process.argv);
  }
} catch (error) {
  // Bad input gets one clear line, not a stack trace.
  console.error(`flagwright: ${(error as Error).message}`);
  process.exit(1);
}
