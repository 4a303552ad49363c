import { levels, type Level, type Logger } from 'pino';

/** Fields pino adds to every line; the control plane's logger adds its own. */
const own = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

/**
 * Writes one of a worker's pino lines (JSON) to the control plane's logger
 * at the same level, so a user's logger (and its level) sees every worker;
 * each line keeps the worker's pid as `worker`.
 */
export function forwardLog(logger: Logger, line: string): void {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return void logger.warn({ line }, 'unreadable worker log line');
  }
  const label = levels.labels[Number(record.level)] as Level | undefined;
  if (label === undefined) return;
  const fields = Object.fromEntries(Object.entries(record).filter(([key]) => !own.has(key)));
  logger[label](fields, typeof record.msg === 'string' ? record.msg : '');
}
