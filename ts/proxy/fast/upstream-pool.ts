import type { Socket } from 'node:net';

/** Idle upstream sockets kept per host:port. Default: 256, as the Node agents keep. */
const maxIdlePerKey = 256;
/** An idle upstream socket is closed after this long. Default: 4 s, below common upstream keep-alive timeouts (Node: 5 s). */
const idleMs = 4000;

const kKey = Symbol('poolKey');
type Pooled = Socket & { [kKey]?: string };

/**
 * Keep-alive raw sockets to plain-HTTP upstreams, LIFO per host:port so a
 * few hot sockets stay busy and the rest time out. A socket is only put
 * back after a clean exchange; an idle one that speaks, ends or fails is
 * dropped. The caller owns a socket's listeners while it is leased.
 */
export class UpstreamPool {
  readonly #idle = new Map<string, Pooled[]>();

  /** The most recently returned idle socket for the key, or undefined. */
  take(key: string): Socket | undefined {
    const list = this.#idle.get(key);
    if (list === undefined) return undefined;
    for (;;) {
      const socket = list.pop();
      if (socket === undefined) return undefined;
      socket[kKey] = undefined;
      if (!socket.destroyed && socket.readyState === 'open') {
        socket.setTimeout(0);
        return socket;
      }
    }
  }

  /** Keeps a socket whose exchange ended cleanly; destroys it when the pool for its key is full. */
  put(key: string, socket: Socket): void {
    let list = this.#idle.get(key);
    if (list === undefined) this.#idle.set(key, (list = []));
    if (list.length >= maxIdlePerKey) return void socket.destroy();
    (socket as Pooled)[kKey] = key;
    socket.setTimeout(idleMs);
    list.push(socket);
  }

  /** Forgets an idle socket that closed, failed or timed out (called from its listeners). */
  drop(socket: Socket): void {
    const key = (socket as Pooled)[kKey];
    socket.destroy();
    if (key === undefined) return;
    (socket as Pooled)[kKey] = undefined;
    const list = this.#idle.get(key);
    const at = list?.indexOf(socket) ?? -1;
    if (at !== -1) list!.splice(at, 1);
  }

  /** Closes every idle socket (stop()). */
  destroy(): void {
    for (const list of this.#idle.values()) for (const socket of list) socket.destroy();
    this.#idle.clear();
  }
}
