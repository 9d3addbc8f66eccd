/**
 * Structured JSON logs (pino). Keys and message content are never logged:
 * the redaction list is a backstop for fields that should not be there at all.
 */
import { pino, type Logger } from "pino";

/**
 * Standard output, written synchronously as pino does by default, but never
 * blocked for long. On a full pipe (a log reader that stopped reading) pino's
 * default sleeps the whole thread and retries forever: the server then
 * answers nothing and ignores SIGTERM. Here a write keeps retrying for at
 * most a second of continuous back-pressure; after that lines are dropped
 * until the reader drains the pipe.
 */
const BLOCKED_WRITE_LIMIT_MS = 1000;

function stdout(): pino.DestinationStream {
  let blockedSince: number | null = null;
  let lastRetry = 0;
  const destination = pino.destination({
    dest: 1,
    sync: true,
    retryEAGAIN: () => {
      const now = Date.now();
      // A retry more than one sleep after the last one starts a new episode of back-pressure.
      if (blockedSince === null || now - lastRetry > 2 * 100 + 50) blockedSince = now;
      lastRetry = now;
      return now - blockedSince < BLOCKED_WRITE_LIMIT_MS;
    },
  });
  // A dropped line (or a closed stdout) must not take the server down.
  destination.on("error", () => undefined);
  return destination;
}

export function createLogger(level: string, destination: pino.DestinationStream = stdout()): Logger {
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
