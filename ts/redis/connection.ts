import { createClient } from 'redis';
import type { Logger } from 'pino';

/** The node-redis client type this package uses (no modules, RESP2). */
export type RedisClient = ReturnType<typeof createClient>;

export interface RedisConnectionOptions {
  url: string;
  /** Longest pause between reconnection attempts. Default: 5000 ms. */
  maxReconnectDelayMs?: number;
}

/**
 * One node-redis client and what the store needs around it: it reconnects
 * by itself (growing pauses up to `maxReconnectDelayMs`), fails commands at
 * once while disconnected (no offline queue: an order must back off, not
 * hang), and reports an outage once when it starts and once when it ends,
 * never per attempt. Listeners of `onAvailable` run at every connection.
 */
export class RedisConnection {
  readonly client: RedisClient;
  readonly #listeners = new Set<() => void>();
  #logger: Logger | undefined;
  #down = false;
  #everReady = false;
  #closed = false;
  readonly #what: string;

  constructor(options: RedisConnectionOptions, what: string) {
    const maxDelay = options.maxReconnectDelayMs ?? 5000;
    this.#what = what;
    this.client = createClient({
      url: options.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 5000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 10), maxDelay) },
    });
    this.client.on('error', (error: unknown) => this.#outage(error));
    this.client.on('ready', () => this.#ready());
    // The first connection is tried in the background: a proxy starts and serves with Redis down.
    this.client.connect().catch((error: unknown) => this.#outage(error));
  }

  /**
   * Runs a command once connected, waiting up to `graceMs` for a connection
   * being made (the first one, a reconnect under way); past that the
   * command fails at once, as nothing is queued while offline.
   */
  async run<T>(command: (client: RedisClient) => Promise<T>, graceMs = 2000): Promise<T> {
    if (!this.client.isReady && !this.#closed && graceMs > 0) await this.#readyWithin(graceMs);
    return command(this.client);
  }

  #readyWithin(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.client.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.client.once('ready', done);
    });
  }

  setLogger(logger: Logger): void {
    this.#logger ??= logger;
  }

  onAvailable(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    if (this.client.isOpen) await this.client.close().catch(() => this.client.destroy());
    else this.client.destroy();
  }

  #outage(error: unknown): void {
    if (this.#down || this.#closed) return;
    this.#down = true;
    this.#logger?.error({ err: error, redis: this.#what }, 'Redis is unreachable: traffic goes on with the certificates held; orders and renewals wait for it, reconnecting by itself');
  }

  #ready(): void {
    const wasDown = this.#down;
    this.#down = false;
    if (wasDown && this.#everReady) this.#logger?.info({ redis: this.#what }, 'Redis is reachable again; resuming orders');
    else if (wasDown) this.#logger?.info({ redis: this.#what }, 'Redis is reachable');
    this.#everReady = true;
    // The first connection too: what failed while it was being made runs now.
    for (const listener of this.#listeners) listener();
  }
}
