import type { Socket } from 'node:net';

/**
 * Every client socket the proxy accepted, so stop() can drain them: idle
 * ones are closed at once, busy ones get until the deadline.
 */
export class ConnectionTracker {
  readonly #sockets = new Set<Socket>();
  readonly #busy = new WeakMap<Socket, number>();
  #onEmpty: (() => void) | undefined;

  add(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      if (this.#sockets.size === 0) this.#onEmpty?.();
    });
  }

  /** Marks a request in flight on the socket (HTTP keep-alive connections are idle between requests). */
  requestStarted(socket: Socket): void {
    this.#busy.set(socket, (this.#busy.get(socket) ?? 0) + 1);
  }

  requestFinished(socket: Socket): void {
    const count = (this.#busy.get(socket) ?? 1) - 1;
    if (count > 0) this.#busy.set(socket, count);
    else this.#busy.delete(socket);
  }

  isIdle(socket: Socket): boolean {
    return !this.#busy.has(socket);
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
