// Structured JSON logs, one line per event, for every long-running Flagwright process. One
// vocabulary for all of them: `component` names the process, `flag` and `namespace` the object,
// `reason` the short cause, `err` the Error (pino serialises its message and stack).
import { type Logger, pino } from "pino";

/** `fd` 2 sends the JSON lines to stderr, for commands whose stdout is for people. */
export function createLogger(
  component: string,
  level = process.env.FLAGWRIGHT_LOG_LEVEL ?? "info",
  fd: 1 | 2 = 1,
): Logger {
  const options = { level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime };
  return fd === 1 ? pino(options) : pino(options, pino.destination(2));
}
