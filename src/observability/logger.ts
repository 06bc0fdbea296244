import { pino, type Logger } from 'pino';
import { defaultLogFormat, LogDestination, type LogFormat } from './log-format.js';

const destination = new LogDestination(defaultLogFormat());

/** `--log-format`: text (one readable line) or JSON lines. */
export function setLogFormat(format: LogFormat): void {
  destination.format = format;
}

// Structured logs. Request bodies, API keys and tokens are never passed to the logger; the redact list is a
// second line of defence for header maps that slip through.
export const logger: Logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { app: 'kthena-router' },
  redact: {
    paths: ['headers.authorization', 'headers["x-api-key"]', 'headers.cookie', 'token', 'apiKey', 'body'],
    censor: '[redacted]',
  },
}, destination);

export type { Logger };
