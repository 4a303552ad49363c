import type { Logger } from 'pino';
import type { ILease, INameLock } from './name-lock.js';
import type { StoreFaults } from './store-faults.js';

/** Default bound on waiting for another holder of a name: longer than any order that respects acme.timeoutMs. */
export const lockWaitMs = 5 * 60_000;

export interface WithNameLockOptions {
  /** Bound on waiting for a live holder; past it the call rejects. Default: lockWaitMs (5 min). */
  waitMs?: number;
  /**
   * A lock that cannot be taken fails the work instead of running it
   * unlocked. Set for stores shared across machines (Redis): ordering
   * unlocked there is what would order a name once per instance, and the
   * order is retried with backoff (and at once when the store is back).
   * Default: false.
   */
  required?: boolean;
}

/**
 * Runs `work` holding `name`. A lock that cannot be taken because the store
 * itself is failing (a read-only or full disk) must not stop certificates
 * from being issued: the failure is reported once and the work runs without
 * it, as nothing can be stored for another process to find anyway (unless
 * `required`). Waiting on a live holder is bounded by `waitMs`.
 */
export async function withNameLock<T>(lock: INameLock, name: string, faults: StoreFaults, logger: Logger, work: (lease: ILease | undefined) => Promise<T>, options: WithNameLockOptions = {}): Promise<T> {
  const waitMs = options.waitMs ?? lockWaitMs;
  let lease: ILease | undefined;
  const signal = AbortSignal.timeout(waitMs);
  try {
    lease = await lock.acquire(name, { signal });
    faults.clear('lock');
  } catch (error) {
    if (signal.aborted) throw new Error(`another process has held the lock on ${name} for over ${waitMs} ms`, { cause: error });
    if (options.required) {
      faults.report('lock', error, 'could not take the shared order lock; the order waits for the store to return', { name });
      throw new Error(`the shared store is unreachable, so the order lock on ${name} could not be taken`, { cause: error });
    }
    faults.report('lock', error, 'could not take the certificate store lock; going on without it (another process sharing the store may order the same name)', { name });
  }
  try {
    return await work(lease);
  } finally {
    await lease?.release().catch((error: unknown) => logger.debug({ name, err: error }, 'releasing the certificate store lock'));
  }
}
