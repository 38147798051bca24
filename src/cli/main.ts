#!/usr/bin/env node
import { buildProgram } from "./program.js";

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  // Bad input gets one clear line, not a stack trace.
  console.error(`flagwright: ${(error as Error).message}`);
  process.exit(1);
}
