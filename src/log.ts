import { pino, type Logger } from 'pino';

/** Structured JSON logs on stdout. Secrets are never passed to the logger; these paths are redacted as a guard. */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name,
    level,
    base: { component: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['*.password', '*.token', '*.authorization', '*.Authorization', 'headers.authorization'], censor: '[redacted]' },
  });
}
