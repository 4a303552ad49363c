import type { Socket } from 'node:net';

// Kept on the socket itself, as plain properties: a closure and a WeakMap entry per connection and per request cost memory and GC time.
const kTracker = Symbol('tracker');
const kBusy = Symbol('requestsInFlight');
type TrackedSocket = Socket & { [kTracker]?: ConnectionTracker; [kBusy]?: number };

/**
 * Every client socket the proxy accepted, so stop() can drain them: idle
 * ones are closed at once, busy ones get until the deadline.
 */
export class ConnectionTracker {
  readonly #sockets = new Set<Socket>();
  #onEmpty: (() => void) | undefined;

  add(socket: Socket): void {
    this.#sockets.add(socket);
    (socket as TrackedSocket)[kTracker] = this;
    // 'on', not 'once': close fires once anyway, and a once-wrapper is two more objects per connection.
    socket.on('close', ConnectionTracker.#closed);
  }

  static #closed(this: TrackedSocket): void {
    const tracker = this[kTracker]!;
    tracker.#sockets.delete(this);
    if (tracker.#sockets.size === 0) tracker.#onEmpty?.();
  }

  /** Marks a request in flight on the socket (HTTP keep-alive connections are idle between requests). */
  requestStarted(socket: Socket): void {
    const s = socket as TrackedSocket;
    s[kBusy] = (s[kBusy] ?? 0) + 1;
  }

  requestFinished(socket: Socket): void {
    const s = socket as TrackedSocket;
    s[kBusy] = Math.max(0, (s[kBusy] ?? 1) - 1);
  }

  isIdle(socket: Socket): boolean {
    return ((socket as TrackedSocket)[kBusy] ?? 0) === 0;
  }

  get size(): number {
    return this.#sockets.size;
  }

  /**
   * Ends idle HTTP connections now (`isIdleHttp` says which), lets the others
   * run until `deadlineMs`, then destroys what is left.
   */
  async drain(deadlineMs: number, isIdleHttp: (socket: Socket) => boolean): Promise<void> {
    for (const socket of this.#sockets) {
      if (isIdleHttp(socket)) socket.destroy();
    }
    if (this.#sockets.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const socket of this.#sockets) socket.destroy();
        resolve();
      }, deadlineMs);
      this.#onEmpty = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#onEmpty = undefined;
  }
}
