#!/usr/bin/env node
// The `kubectl-flagwright` binary: kubectl finds it on PATH and runs it for `kubectl flagwright`.
import { runPlugin } from "./program.js";

process.exitCode = await runPlugin(process.argv.slice(2));
