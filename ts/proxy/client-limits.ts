/**
 * Per-client admission: concurrent connections per IP and new connections
 * per IP per second (a sliding one-second window kept as two counters, so
 * the cost per connection is a map lookup, not a list of timestamps).
 */
export interface ClientLimitOptions {
  /** Concurrent connections one IP may hold. Default: Infinity. */
  maxConnectionsPerIp: number;
  /** New connections one IP may open per second. Default: Infinity. */
  connectionRatePerIp: number;
}

interface ClientState {
  open: number;
  windowStart: number;
  current: number;
  previous: number;
}

export type Refusal = 'maxConnectionsPerIp' | 'connectionRatePerIp' | undefined;

export class ClientLimits {
  readonly #options: ClientLimitOptions;
  readonly #clients = new Map<string, ClientState>();
  #admitsSinceSweep = 0;

  constructor(options: ClientLimitOptions) {
    this.#options = options;
  }

  get enabled(): boolean {
    return this.#options.maxConnectionsPerIp !== Infinity || this.#options.connectionRatePerIp !== Infinity;
  }

  /** Admits a new connection from `ip` (and counts it) or names the limit that refuses it. */
  admit(ip: string, now = Date.now()): Refusal {
    if (++this.#admitsSinceSweep >= 1024) this.#sweep(now);
    let state = this.#clients.get(ip);
    if (state === undefined) {
      state = { open: 0, windowStart: now, current: 0, previous: 0 };
      this.#clients.set(ip, state);
    }
    const elapsed = now - state.windowStart;
    if (elapsed >= 1000) {
      state.previous = elapsed >= 2000 ? 0 : state.current;
      state.current = 0;
      state.windowStart = now - (elapsed % 1000);
    }
    // Sliding estimate: this second's count plus the overlapping share of the last one.
    const rate = state.current + state.previous * (1 - (now - state.windowStart) / 1000);
    if (rate >= this.#options.connectionRatePerIp) return 'connectionRatePerIp';
    if (state.open >= this.#options.maxConnectionsPerIp) return 'maxConnectionsPerIp';
    state.current++;
    state.open++;
    return undefined;
  }

  release(ip: string): void {
    const state = this.#clients.get(ip);
    if (state !== undefined) state.open--;
  }

  /** Forgets clients with nothing open and no recent connections, so the map does not grow with every address ever seen. */
  #sweep(now: number): void {
    this.#admitsSinceSweep = 0;
    for (const [ip, state] of this.#clients) {
      if (state.open <= 0 && now - state.windowStart >= 2000) this.#clients.delete(ip);
    }
  }

  get trackedClients(): number {
    return this.#clients.size;
  }
}
