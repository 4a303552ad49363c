import { pino, type Logger } from 'pino';

/** The logger used when the user gives none: pino JSON at 'info'. */
export function defaultLogger(): Logger {
  return pino({ name: 'smartproxy', level: process.env.SMARTPROXY_LOG_LEVEL ?? 'info' });
}
