/**
 * Structured JSON logs (pino). Keys and message content are never logged:
 * the redaction list is a backstop for fields that should not be there at all.
 */
import { pino, type Logger } from "pino";

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "parley" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ["authorization", "apiKey", "apiKeys", "*.authorization", "*.apiKey", "headers.authorization", "content", "*.content"],
        censor: "[redacted]",
      },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

export type { Logger };
