/**
 * The proxy's logger. Every line carries `name: 'smartproxy'`, whether the
 * logger is ours or the user's (then a child of it). Ours is pretty on a
 * terminal and JSON otherwise; pino-pretty is an optional dependency, loaded
 * only when a terminal is there to read it, with a plain-text fallback.
 */
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './options.js';

const name = 'smartproxy';
const defaults = new Map<string, Logger>();

/**
 * The logger a proxy writes to: a child of `logger` named 'smartproxy', or
 * the default logger. Level: `level`, else SMARTPROXY_LOG_LEVEL, else the
 * given logger's level, else 'info'.
 */
export function proxyLogger(logger: Logger | undefined, level?: LogLevel): Logger {
  const wanted = level ?? envLevel();
  if (logger === undefined) return defaultLogger(wanted ?? 'info');
  const child = logger.bindings().name === name ? logger.child({}) : logger.child({ name });
  if (wanted !== undefined) child.level = wanted;
  return child;
}

/**
 * pino at `level` named 'smartproxy': pretty when stdout is a terminal,
 * JSON otherwise. One per level per process, so many proxies (or a
 * reloading CLI) do not each start a pretty-printing worker thread.
 */
export function defaultLogger(level: string = envLevel() ?? 'info'): Logger {
  let logger = defaults.get(level);
  if (logger === undefined) {
    logger = process.stdout.isTTY ? terminalLogger(level) : pino({ name, level });
    defaults.set(level, logger);
  }
  // A child, so a caller changing its level (reload, updateOptions) leaves the shared one alone.
  return logger.child({});
}

function terminalLogger(level: string): Logger {
  if (canLoad('pino-pretty')) {
    return pino({ name, level, transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } });
  }
  return pino({ name, level }, plainText(process.stdout));
}

/** "12:00:01 INFO  port bound port=8080 address=0.0.0.0": readable without pino-pretty. */
export function plainText(out: NodeJS.WritableStream): DestinationStream {
  const labels: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
  return {
    write(line: string) {
      const { time, level, msg, name: _name, pid: _pid, hostname: _host, ...rest } = JSON.parse(line) as Record<string, unknown>;
      const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
      const clock = new Date(Number(time)).toISOString().slice(11, 19);
      out.write(`${clock} ${labels[Number(level)] ?? String(level)} ${String(msg ?? '')}${fields.length > 0 ? ` ${fields.join(' ')}` : ''}\n`);
    },
  };
}

function canLoad(specifier: string): boolean {
  try {
    createRequire(import.meta.url).resolve(specifier);
    return true;
  } catch {
    return false;
  }
}

function envLevel(): LogLevel | undefined {
  const level = process.env.SMARTPROXY_LOG_LEVEL;
  return level === undefined || level === '' ? undefined : (level as LogLevel);
}
