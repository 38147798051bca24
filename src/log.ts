// Structured JSON logs, one line per event, for every long-running Flagwright process.
import { type Logger, pino } from "pino";

export function createLogger(component: string, level = process.env.FLAGWRIGHT_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime });
}
