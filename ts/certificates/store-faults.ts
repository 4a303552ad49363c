import type { Logger } from 'pino';
import { errnoCode } from '../errors.js';

/**
 * Reports a failing store once per cause, not once per attempt: a full disk
 * would otherwise log the same error for every name at every retry. A cause
 * is the operation plus the error's code (ENOSPC, EACCES, …); once the
 * operation succeeds again the cause is forgotten, so a recurrence is
 * reported anew. Repeats go to the debug level.
 */
export class StoreFaults {
  readonly #logger: Logger;
  readonly #reported = new Set<string>();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Logs `message` at error level the first time this operation fails with this cause; returns whether it did. */
  report(operation: string, error: unknown, message: string, fields: Record<string, unknown> = {}): boolean {
    const cause = `${operation}:${errnoCode(error) ?? (error instanceof Error ? error.name : 'unknown')}`;
    if (this.#reported.has(cause)) {
      this.#logger.debug({ ...fields, err: error, operation }, `${message} (reported before)`);
      return false;
    }
    this.#reported.add(cause);
    this.#logger.error({ ...fields, err: error, operation }, message);
    return true;
  }

  /** The operation works again: its causes are reported again should they come back. */
  clear(operation: string): void {
    if (this.#reported.size === 0) return;
    for (const cause of this.#reported) if (cause.startsWith(`${operation}:`)) this.#reported.delete(cause);
  }
}
