import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ILease, INameLock } from '../certificates/name-lock.js';
import type { RedisConnection } from './connection.js';
import { acquireScript, releaseScript, renewScript, type RedisKeys } from './scripts.js';

export interface RedisNameLockOptions {
  /** How long a holding lasts unless renewed: a holder that dies frees the name after this. Default: 15000 ms. */
  leaseMs?: number;
  /** How often a waiter tries again while the name is held. Default: 250 ms. */
  pollMs?: number;
}

/**
 * The per-name order lock as a Redis lease: taken with one script that
 * checks the key is free, bumps the name's fence (INCR) and sets
 * `<fence>:<random>` with a TTL of one lease (SET PX); renewed every third
 * of a lease by a script that extends it only if it is still ours; released
 * by compare-and-delete. The token it carries lets the store refuse a save
 * from a holder whose lease passed to another (see RedisStore).
 */
export class RedisNameLock implements INameLock {
  readonly #client: RedisConnection;
  readonly #keys: RedisKeys;
  readonly #leaseMs: number;
  readonly #pollMs: number;

  constructor(client: RedisConnection, keys: RedisKeys, options: RedisNameLockOptions = {}) {
    this.#client = client;
    this.#keys = keys;
    this.#leaseMs = options.leaseMs ?? 15_000;
    this.#pollMs = options.pollMs ?? 250;
  }

  async acquire(name: string, options: { signal?: AbortSignal } = {}): Promise<ILease> {
    const { signal } = options;
    const lock = this.#keys.lock(name);
    const random = randomBytes(12).toString('hex');
    for (;;) {
      signal?.throwIfAborted();
      // Timed from before the request: the lease may have started that early, never later.
      const sentAt = Date.now();
      const fence = Number(await this.#client.run((c) => c.eval(acquireScript, { keys: [lock, this.#keys.fence(name)], arguments: [random, String(this.#leaseMs)] })));
      if (fence > 0) return new RedisLease(this.#client, lock, `${fence}:${random}`, fence, this.#leaseMs, sentAt);
      await sleep(this.#pollMs, undefined, { signal }).catch(() => signal?.throwIfAborted());
    }
  }
}

class RedisLease implements ILease {
  readonly fence: number;
  readonly token: string;
  readonly #client: RedisConnection;
  readonly #key: string;
  readonly #leaseMs: number;
  readonly #timer: NodeJS.Timeout;
  /** When the last successful renewal (or the acquisition) was sent: the lease surely runs until this plus leaseMs. */
  #confirmedAt: number;
  #lost = false;
  #released = false;

  constructor(client: RedisConnection, key: string, token: string, fence: number, leaseMs: number, sentAt: number) {
    this.#client = client;
    this.#key = key;
    this.token = token;
    this.fence = fence;
    this.#leaseMs = leaseMs;
    this.#confirmedAt = sentAt;
    this.#timer = setInterval(() => void this.#renew(), Math.max(Math.floor(leaseMs / 3), 10));
    this.#timer.unref();
  }

  stillHeld(): boolean {
    return !this.#released && !this.#lost && Date.now() - this.#confirmedAt < this.#leaseMs;
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    if (this.#lost) return;
    await this.#client.run((c) => c.eval(releaseScript, { keys: [this.#key], arguments: [this.token] })).catch(() => undefined);
  }

  async #renew(): Promise<void> {
    if (this.#released || this.#lost) return;
    // Overdue already (a stalled process): the lease may have passed on even if the key still names us; never revive it.
    if (!this.stillHeld()) return this.#lose();
    const sentAt = Date.now();
    try {
      // No grace: a renewal that cannot be sent now is simply unconfirmed.
      const ours = Number(await this.#client.run((c) => c.eval(renewScript, { keys: [this.#key], arguments: [this.token, String(this.#leaseMs)] }), 0));
      if (ours === 1) this.#confirmedAt = sentAt;
      else this.#lose();
    } catch {
      // Unconfirmed: stillHeld() turns false once a whole lease passes without a renewal.
    }
  }

  #lose(): void {
    this.#lost = true;
    clearInterval(this.#timer);
  }
}
