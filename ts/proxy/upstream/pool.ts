import type { Socket } from 'node:net';

/** Limits of the upstream pool. */
export interface UpstreamPoolLimits {
  /** Idle keep-alive sockets kept per target. Default: 256, as many as the Node agents it replaced kept. */
  maxIdlePerTarget: number;
  /** An idle socket is closed after this long. Default: 4000 ms, below common upstream keep-alive timeouts (Node's is 5 s). */
  idleMs: number;
  /** Sockets in use per target at once; requests beyond it wait for one to come back. Default: Infinity. */
  maxSocketsPerTarget: number;
}

export const defaultUpstreamPoolLimits: Readonly<UpstreamPoolLimits> = Object.freeze({ maxIdlePerTarget: 256, idleMs: 4000, maxSocketsPerTarget: Infinity });

const kKey = Symbol('poolKey');
const kIdleSince = Symbol('idleSince');
type Pooled = Socket & { [kKey]?: string; [kIdleSince]?: number };

/** Called when a socket can be had: a pooled one, or undefined for "open a new one". */
export type Grant = (socket: Socket | undefined) => void;

/**
 * The one pool of keep-alive connections to upstreams, for every engine:
 * plain and TLS targets, each under its own key (TLS keys carry how the
 * upstream is verified, so differently verified sockets never mix). LIFO
 * per key, so a few hot sockets stay busy and the rest time out. A socket
 * is only put back after a clean exchange; an idle one that speaks, ends or
 * fails is dropped. The caller owns a socket's listeners while it is leased.
 */
export class UpstreamPool {
  readonly #idle = new Map<string, Pooled[]>();
  /** Sockets leased or being opened, per key (only counted when a per-target cap is set). */
  readonly #busy = new Map<string, number>();
  readonly #waiting = new Map<string, Grant[]>();
  #limits: Readonly<UpstreamPoolLimits>;
  /**
   * Closes sockets idle longer than idleMs. One interval for the pool, not a
   * socket timeout re-armed on every return and cleared on every reuse (a
   * timer insert per request); runs only while a socket is idle.
   */
  #sweeper: NodeJS.Timeout | undefined;

  constructor(limits: Readonly<UpstreamPoolLimits> = defaultUpstreamPoolLimits) {
    this.#limits = limits;
  }

  /** New limits apply to sockets returned from now on. */
  setLimits(limits: Readonly<UpstreamPoolLimits>): void {
    this.#limits = limits;
  }

  /**
   * Asks for a socket to `key`: `grant` is called with the most recently
   * returned idle one, or with undefined when the caller should open one —
   * at once while the target is under its cap, otherwise when a socket of
   * the target comes back. Returns a function that withdraws a waiting ask.
   */
  acquire(key: string, grant: Grant): () => void {
    const socket = this.#takeIdle(key);
    const capped = Number.isFinite(this.#limits.maxSocketsPerTarget);
    if (!capped) {
      grant(socket);
      return noop;
    }
    const busy = this.#busy.get(key) ?? 0;
    if (socket !== undefined || busy < this.#limits.maxSocketsPerTarget) {
      this.#busy.set(key, busy + 1);
      grant(socket);
      return noop;
    }
    let queue = this.#waiting.get(key);
    if (queue === undefined) this.#waiting.set(key, (queue = []));
    queue.push(grant);
    return () => {
      const at = queue.indexOf(grant);
      if (at !== -1) queue.splice(at, 1);
    };
  }

  /**
   * Ends a lease: a socket whose exchange ended cleanly is kept (or handed
   * to a waiting ask); undefined means the leased socket was destroyed.
   */
  release(key: string, socket: Socket | undefined): void {
    if (Number.isFinite(this.#limits.maxSocketsPerTarget)) {
      const next = this.#waiting.get(key)?.shift();
      // A waiting ask takes the slot over: the socket itself when it is reusable, else the right to open one.
      if (next !== undefined) return next(socket !== undefined && usable(socket) ? socket : (socket?.destroy(), undefined));
      const busy = (this.#busy.get(key) ?? 1) - 1;
      if (busy > 0) this.#busy.set(key, busy);
      else this.#busy.delete(key);
    }
    if (socket !== undefined) this.#keep(key, socket);
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

  /** Closes every idle socket (stop()); waiting asks are told to open their own. */
  destroy(): void {
    for (const list of this.#idle.values()) for (const socket of list) socket.destroy();
    this.#idle.clear();
    this.#stopSweeping();
    for (const queue of this.#waiting.values()) for (const grant of queue.splice(0)) grant(undefined);
    this.#busy.clear();
  }

  #takeIdle(key: string): Socket | undefined {
    const list = this.#idle.get(key);
    if (list === undefined) return undefined;
    const oldest = Date.now() - this.#limits.idleMs;
    for (;;) {
      const socket = list.pop();
      if (socket === undefined) return undefined;
      socket[kKey] = undefined;
      // Past its idle time (the sweep had not come round yet): the upstream may be closing it right now.
      if (socket[kIdleSince]! < oldest) socket.destroy();
      else if (usable(socket)) return socket;
    }
  }

  #keep(key: string, socket: Socket): void {
    let list = this.#idle.get(key);
    if (list === undefined) this.#idle.set(key, (list = []));
    if (list.length >= this.#limits.maxIdlePerTarget || !usable(socket)) return void socket.destroy();
    (socket as Pooled)[kKey] = key;
    (socket as Pooled)[kIdleSince] = Date.now();
    list.push(socket);
    this.#sweeper ??= setInterval(this.#sweep, Math.max(50, Math.min(1000, this.#limits.idleMs / 4))).unref();
  }

  /** Closes the sockets idle past idleMs: the oldest are at the front of each list (returns push, takes pop). */
  readonly #sweep = (): void => {
    const oldest = Date.now() - this.#limits.idleMs;
    for (const [key, list] of this.#idle) {
      let stale = 0;
      while (stale < list.length && (list[stale] as Pooled)[kIdleSince]! < oldest) stale++;
      for (const socket of list.splice(0, stale)) {
        (socket as Pooled)[kKey] = undefined;
        socket.destroy();
      }
      if (list.length === 0) this.#idle.delete(key);
    }
    if (this.#idle.size === 0) this.#stopSweeping();
  };

  #stopSweeping(): void {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}

function usable(socket: Socket): boolean {
  return !socket.destroyed && socket.readyState === 'open';
}

function noop(): void {}
