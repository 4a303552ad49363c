import { randomBytes } from 'node:crypto';
import type { ITicketKeySource } from '../certificates/shared-store.js';
import type { RedisClient } from './connection.js';
import { rotateTicketsScript, type RedisKeys } from './scripts.js';

/** Node's ticketKeys: 16 bytes of key name, 16 of HMAC secret, 16 of AES key. */
const ticketKeyBytes = 48;

/**
 * Session ticket keys shared through Redis. Time is cut into epochs of
 * `rotateMs`; the first instance to reach a new epoch stores a fresh key
 * (the old one kept as `previous`), every other one reads it, so the whole
 * fleet switches at the same boundary. Until Redis has been reached once,
 * a key of this process's own serves (sessions then resume only here).
 *
 * Node's TLS stack decrypts with one key only, so a ticket issued just
 * before a rotation does not resume after it: that client makes one full
 * handshake. `previous` is kept for a ticket stack that can use it.
 */
export class RedisTicketKeys implements ITicketKeySource {
  readonly #client: RedisClient;
  readonly #keys: RedisKeys;
  readonly #rotateMs: number;
  readonly #listeners = new Set<(keys: Buffer) => void>();
  #current: Buffer = randomBytes(ticketKeyBytes);
  #epoch = -1;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(client: RedisClient, keys: RedisKeys, rotateMs: number) {
    this.#client = client;
    this.#keys = keys;
    this.#rotateMs = rotateMs;
  }

  ticketKeys(): Buffer {
    return this.#current;
  }

  onTicketKeysChanged(listener: (keys: Buffer) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reads (or rotates) the shared key now, then at every epoch boundary and every `checkMs` (a missed boundary, a failover). */
  start(checkMs: number): void {
    const tick = () => {
      if (this.#closed) return;
      void this.sync();
      const untilBoundary = this.#rotateMs - (Date.now() % this.#rotateMs);
      this.#timer = setTimeout(tick, Math.min(untilBoundary + 50, checkMs));
      this.#timer.unref();
    };
    tick();
  }

  /** Brings the key in line with the store; failures leave the current key serving. */
  async sync(): Promise<void> {
    if (!this.#client.isReady) return;
    const wanted = Math.floor(Date.now() / this.#rotateMs);
    try {
      const reply = (await this.#client.eval(rotateTicketsScript, { keys: [this.#keys.ticketKeys()], arguments: [String(wanted), randomBytes(ticketKeyBytes).toString('base64')] })) as [string, string];
      const key = Buffer.from(reply[1], 'base64');
      if (key.length !== ticketKeyBytes || key.equals(this.#current)) return;
      this.#epoch = Number(reply[0]);
      this.#current = key;
      for (const listener of this.#listeners) listener(key);
    } catch {
      // Redis unreachable: the connection reports the outage; this key keeps serving.
    }
  }

  get epoch(): number {
    return this.#epoch;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#listeners.clear();
  }
}
