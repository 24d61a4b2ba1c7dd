import { type Logger, type LoggerOptions, pino } from "pino";

export type { Logger };

/**
 * One structured JSON logger per process. Secrets never go through it: the redact list
 * removes the fields that could carry a token or a password even if a caller passes them.
 */
export function createLogger(name: string, options: LoggerOptions = {}): Logger {
  return pino({
    name,
    level: process.env.PORTCULLIS_LOG_LEVEL ?? options.level ?? "info",
    redact: {
      paths: ["password", "token", "*.password", "*.token", "authorization", "*.authorization"],
      censor: "[redacted]",
    },
    ...options,
  });
}

/** A logger that drops everything: for unit tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: "silent" });
