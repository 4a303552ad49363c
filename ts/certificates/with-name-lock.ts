import type { Logger } from 'pino';
import type { ILease, INameLock } from './name-lock.js';
import type { StoreFaults } from './store-faults.js';

/** Default bound on waiting for another holder of a name: longer than any order that respects acme.timeoutMs. */
export const lockWaitMs = 5 * 60_000;

/**
 * Runs `work` holding `name`. A lock that cannot be taken because the store
 * itself is failing (a read-only or full disk) must not stop certificates
 * from being issued: the failure is reported once and the work runs without
 * it, as nothing can be stored for another process to find anyway. Waiting
 * on a live holder is bounded by `waitMs`; past that the call rejects.
 */
export async function withNameLock<T>(lock: INameLock, name: string, faults: StoreFaults, logger: Logger, work: (lease: ILease | undefined) => Promise<T>, waitMs = lockWaitMs): Promise<T> {
  let lease: ILease | undefined;
  const signal = AbortSignal.timeout(waitMs);
  try {
    lease = await lock.acquire(name, { signal });
    faults.clear('lock');
  } catch (error) {
    if (signal.aborted) throw new Error(`another process has held the lock on ${name} for over ${waitMs} ms`, { cause: error });
    faults.report('lock', error, 'could not take the certificate store lock; going on without it (another process sharing the store may order the same name)', { name });
  }
  try {
    return await work(lease);
  } finally {
    await lease?.release().catch((error: unknown) => logger.debug({ name, err: error }, 'releasing the certificate store lock'));
  }
}
