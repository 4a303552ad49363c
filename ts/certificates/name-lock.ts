/**
 * A lock on one name (a domain, or the ACME account of a directory) that
 * several processes can share: whoever holds it orders and saves; the others
 * wait, then find the new certificate in the store instead of ordering again.
 *
 * Shaped so a networked store can implement it the way Redis does a lease:
 * acquire is `SET key token NX PX lease` retried until it succeeds or the
 * signal aborts; the lease is renewed while held; `fence` comes from `INCR`,
 * so a store can refuse a write that carries an older fence than one it has
 * seen; release is a compare-and-delete of the token.
 */
export interface INameLock {
  /**
   * Resolves once the caller holds `name`; waits (polling) while someone
   * else does. Rejects with the signal's reason when `signal` aborts.
   */
  acquire(name: string, options?: { signal?: AbortSignal }): Promise<ILease>;
}

/** One holding of a name, kept alive until released. */
export interface ILease {
  /** Larger for every later acquisition of the same name (a fencing token). */
  readonly fence: number;
  /**
   * What the lock wrote as the holder (it carries the fence), for stores
   * whose saves are refused unless this is still the holder. Locks that
   * fence nothing leave it out.
   */
  readonly token?: string;
  /**
   * Whether the lease is certainly still ours: false once a renewal failed,
   * found another holder, or is overdue (a stalled event loop). Checked
   * before committing work done under the lock.
   */
  stillHeld(): boolean;
  /** Gives the name up (only if it is still ours); never rejects. */
  release(): Promise<void>;
}

/**
 * Serialises holders of a name within this process only. The default for
 * stores that bring no lock of their own (MemoryCertificateStore, a custom
 * ICertificateStore without `nameLock`).
 */
export class MemoryNameLock implements INameLock {
  readonly #tails = new Map<string, Promise<void>>();
  readonly #fences = new Map<string, number>();

  async acquire(name: string, options: { signal?: AbortSignal } = {}): Promise<ILease> {
    const previous = this.#tails.get(name) ?? Promise.resolve();
    let free!: () => void;
    const mine = new Promise<void>((resolve) => (free = resolve));
    const tail = previous.then(() => mine);
    this.#tails.set(name, tail);
    try {
      await abortable(previous, options.signal);
    } catch (error) {
      // Our turn is passed on at once, so the holders after us are not stuck behind a waiter that gave up.
      free();
      this.#forget(name, tail);
      throw error;
    }
    const fence = (this.#fences.get(name) ?? 0) + 1;
    this.#fences.set(name, fence);
    let held = true;
    return {
      fence,
      stillHeld: () => held,
      release: async () => {
        if (!held) return;
        held = false;
        free();
        this.#forget(name, tail);
      },
    };
  }

  #forget(name: string, tail: Promise<void>): void {
    void tail.then(() => {
      if (this.#tails.get(name) === tail) this.#tails.delete(name);
    });
  }
}

/** `promise`, or the signal's reason as soon as it aborts. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
