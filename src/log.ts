// Structured JSON logs, one line per event, for every long-running Flagwright process.
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
