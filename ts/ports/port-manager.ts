import { EventEmitter } from 'node:events';
import { createServer, type ListenOptions, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { bindError, classifyConflict, type ConflictKind } from './bind-error.js';
import { bindListenHandle, boundAddress, type ListenHandle } from './listen-handle.js';
import { RefCountPool } from './ref-count-pool.js';

export interface PortEvents {
  'port-bound': [{ port: number }];
  'port-released': [{ port: number }];
}

interface CommonOptions {
  /** Address to listen on. Default: all interfaces (IPv6 and IPv4). */
  host?: string;
  logger: Logger;
}

export type PortManagerOptions = CommonOptions &
  (
    | {
        /** Called for every accepted connection; the listener itself knows nothing of routes. */
        onConnection: (socket: Socket, port: number) => void;
        forWorkers?: undefined;
      }
    | {
        /**
         * Bind each port without listening, for worker processes to accept
         * from (listenHandle()): this process accepts no connection at all.
         */
        forWorkers: true;
        onConnection?: undefined;
      }
  );

/** A port's listener: a server accepting here, or a bound handle the workers accept from. */
type Listener = { server: Server; handle?: undefined } | { handle: ListenHandle; server?: undefined };

/**
 * The ref-counted listener pool: one net.Server per port (or, for workers,
 * one bound socket they accept from) for as long as any route needs it. Counting means a port shared by several routes (or by a
 * route and the ACME challenge) is bound once and closed only when the last
 * user lets go, so route changes never re-bind a port that stays in use.
 */
export class PortManager extends EventEmitter<PortEvents> {
  readonly #pool = new RefCountPool<number, Listener>();
  readonly #options: PortManagerOptions;
  /** forWorkers mode: each bound port's handle, kept here so listenHandle() needs no await. */
  readonly #bound = new Map<number, ListenHandle>();

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

  /** The bound socket of a port, for workers to accept from (forWorkers mode; undefined while it is binding). */
  listenHandle(port: number): ListenHandle | undefined {
    return this.#bound.get(port);
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
    const closed = await this.#pool.release(port, (listener) => this.#close(listener, port), refs);
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

  async #bind(port: number): Promise<Listener> {
    const { host } = this.#options;
    if (this.#options.forWorkers === true) {
      try {
        const handle = await bindListenHandle(port, host);
        this.#bound.set(port, handle);
        this.#announce(port, boundAddress(handle));
        return { handle };
      } catch (error) {
        this.#options.logger.debug({ port, conflict: this.classifyConflict(error, port), err: error }, 'binding port failed');
        throw bindError(port, error, host);
      }
    }
    const server = createServer({ noDelay: true });
    await this.#listen(port, server, { port, host, exclusive: true });
    this.#serve(server, port, this.#options.onConnection);
    return { server };
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

  #serve(server: Server, port: number, onConnection: (socket: Socket, port: number) => void): void {
    const { logger } = this.#options;
    // After listening, errors are accept() failures (EMFILE, …): log, keep serving.
    server.on('error', (error) => logger.error({ port, err: error }, 'listener error'));
    server.on('connection', (socket) => onConnection(socket, port));
    const bound = server.address();
    this.#announce(port, typeof bound === 'object' && bound !== null ? bound.address : undefined);
  }

  /** Says a port is bound (log line and event). */
  #announce(port: number, bound: string | undefined): void {
    const address = bound ?? this.#options.host ?? '::';
    this.#options.logger.info({ port, address }, `port bound: ${address.includes(':') ? `[${address}]` : address}:${port}`);
    this.emit('port-bound', { port });
  }

  #close(listener: Listener, port: number): void {
    // close() stops accepting at once and frees the port (once every worker closed its copy too); a server's
    // close callback would wait for every open connection, which belong to the data path now.
    if (listener.server !== undefined) listener.server.close();
    else {
      listener.handle.close();
      this.#bound.delete(port);
    }
    this.#options.logger.info({ port }, 'port released');
    this.emit('port-released', { port });
  }
}
