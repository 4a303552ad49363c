import { EventEmitter } from 'node:events';
import { createServer, type ListenOptions, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { bindError, classifyConflict, type ConflictKind } from './bind-error.js';
import { RefCountPool } from './ref-count-pool.js';

export interface PortEvents {
  'port-bound': [{ port: number }];
  'port-released': [{ port: number }];
}

export interface PortManagerOptions {
  /** Address to listen on. Default: all interfaces (IPv6 and IPv4). */
  host?: string;
  /** Called for every accepted connection; the listener itself knows nothing of routes. */
  onConnection: (socket: Socket, port: number) => void;
  logger: Logger;
  /** Accept sockets without reading from them (they are handed to a worker process). Default: false. */
  pauseOnConnect?: boolean;
  /**
   * SO_REUSEPORT (Node >= 22.12, Linux), for worker processes sharing a port.
   * 'hold': check the port is free with an exclusive bind first (so another
   * program's port is still a PortInUseError), then bind so workers can join.
   * 'join': bind beside the holder. Default: exclusive, no reuse.
   */
  reusePort?: 'hold' | 'join';
}

/**
 * The ref-counted listener pool: one net.Server per port for as long as any
 * route needs it. Counting means a port shared by several routes (or by a
 * route and the ACME challenge) is bound once and closed only when the last
 * user lets go, so route changes never re-bind a port that stays in use.
 */
export class PortManager extends EventEmitter<PortEvents> {
  readonly #pool = new RefCountPool<number, Server>();
  readonly #options: PortManagerOptions;

  constructor(options: PortManagerOptions) {
    super();
    this.#options = options;
  }

  /** Whether this proxy holds a listener on the port (or is binding it). */
  isPortBoundBySmartProxy(port: number): boolean {
    return this.#pool.has(port);
  }

  getPortRefCount(port: number): number {
    return this.#pool.count(port);
  }

  /** Sorted ports this proxy listens on. */
  getListeningPorts(): number[] {
    return this.#pool.keys().sort((a, b) => a - b);
  }

  /**
   * Takes `refs` uses of a port: reuses our listener when there is one,
   * binds otherwise. Rejects with PortInUseError when another application
   * holds it, PortBindError for other failures; nothing is left counted then.
   */
  async addPort(port: number, refs = 1): Promise<void> {
    const reusing = this.#pool.has(port);
    // Awaited even when reusing: the port may still be binding for an earlier
    // caller, and this caller must not hear "bound" before the bind has worked.
    await this.#pool.acquire(port, () => this.#bind(port), refs);
    if (reusing) this.#options.logger.debug({ port, refCount: this.#pool.count(port) }, 'port already bound by smartproxy, reusing it');
  }

  /** Drops `refs` uses; the last one closes the listener. Open connections finish normally. */
  async removePort(port: number, refs = 1): Promise<void> {
    const closed = await this.#pool.release(port, (server) => this.#close(server, port), refs);
    if (!closed) this.#options.logger.debug({ port, refCount: this.#pool.count(port) }, 'port still in use, keeping it');
  }

  /** Adds a use of a port that is already bound. */
  incrementPortRefCount(port: number, refs = 1): number {
    return this.#pool.increment(port, refs);
  }

  /** Drops a use; closes the listener at zero. Returns the new count. */
  async decrementPortRefCount(port: number, refs = 1): Promise<number> {
    await this.removePort(port, refs);
    return this.#pool.count(port);
  }

  /** Whether an EADDRINUSE for this port is our own binding or another program's. */
  classifyConflict(error: unknown, port: number): ConflictKind {
    return classifyConflict(error, this.isPortBoundBySmartProxy(port));
  }

  /** Closes every listener regardless of counts (used by stop()). */
  async closeAll(): Promise<void> {
    await Promise.all(this.#pool.keys().map((port) => this.removePort(port, this.#pool.count(port))));
  }

  async #bind(port: number): Promise<Server> {
    const { host, reusePort } = this.#options;
    // A reusePort socket would silently share a port another program of this user holds with reusePort: ask first.
    if (reusePort === 'hold') {
      const probe = await this.#listen(port, createServer(), { port, host, exclusive: true });
      await new Promise((resolve) => probe.close(resolve));
    }
    const server = createServer({ noDelay: true, pauseOnConnect: this.#options.pauseOnConnect === true });
    const options = reusePort === undefined ? { port, host, exclusive: true } : { port, host, exclusive: true, reusePort: true };
    await this.#listen(port, server, options);
    this.#serve(server, port);
    return server;
  }

  /** Listens, turning a failure into the typed error (and closing the server). */
  #listen(port: number, server: Server, options: ListenOptions): Promise<Server> {
    const { host, logger } = this.#options;
    return new Promise((resolve, reject) => {
      const onListenError = (error: Error) => {
        server.close();
        const conflict = this.classifyConflict(error, port);
        logger.debug({ port, conflict, err: error }, 'binding port failed');
        reject(bindError(port, error, host));
      };
      server.once('error', onListenError);
      server.listen(options, () => {
        server.off('error', onListenError);
        resolve(server);
      });
    });
  }

  #serve(server: Server, port: number): void {
    const { host, onConnection, logger } = this.#options;
    // After listening, errors are accept() failures (EMFILE, …): log, keep serving.
    server.on('error', (error) => logger.error({ port, err: error }, 'listener error'));
    server.on('connection', (socket) => onConnection(socket, port));
    const bound = server.address();
    const address = typeof bound === 'object' && bound !== null ? bound.address : (host ?? '::');
    logger.info({ port, address }, `port bound: ${address.includes(':') ? `[${address}]` : address}:${port}`);
    this.emit('port-bound', { port });
  }

  #close(server: Server, port: number): void {
    // close() stops accepting at once and frees the port; its callback would
    // wait for every open connection, which belong to the data path now.
    server.close();
    this.#options.logger.info({ port }, 'port released');
    this.emit('port-released', { port });
  }
}
