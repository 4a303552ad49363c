import type { Logger } from 'pino';
import type { LimitName } from '../options.js';

/**
 * Counts every time a limit turns a client away and logs it once per burst:
 * the first hit is logged at once, later hits within `windowMs` are only
 * counted and summed up in one line when the window closes. A flood of
 * rejected connections cannot turn into a flood of log lines.
 */
export class LimitReporter {
  readonly #logger: Logger;
  readonly #windowMs: number;
  readonly #totals = new Map<LimitName, number>();
  readonly #bursts = new Map<LimitName, { count: number; timer: NodeJS.Timeout }>();

  constructor(logger: Logger, windowMs = 10_000) {
    this.#logger = logger;
    this.#windowMs = windowMs;
  }

  hit(limit: LimitName, detail: Record<string, unknown>): void {
    this.#totals.set(limit, (this.#totals.get(limit) ?? 0) + 1);
    const burst = this.#bursts.get(limit);
    if (burst !== undefined) {
      burst.count++;
      return;
    }
    this.#logger.warn({ ...detail, limit }, `limit reached: ${limit}`);
    const timer = setTimeout(() => {
      const ended = this.#bursts.get(limit);
      this.#bursts.delete(limit);
      if (ended !== undefined && ended.count > 0) {
        this.#logger.warn({ limit, hits: ended.count, windowMs: this.#windowMs }, `limit reached: ${limit} (${ended.count} more times)`);
      }
    }, this.#windowMs);
    timer.unref();
    this.#bursts.set(limit, { count: 0, timer });
  }

  /** Hits per limit since start. */
  totals(): Partial<Record<LimitName, number>> {
    return Object.fromEntries(this.#totals);
  }

  stop(): void {
    for (const burst of this.#bursts.values()) clearTimeout(burst.timer);
    this.#bursts.clear();
  }
}
