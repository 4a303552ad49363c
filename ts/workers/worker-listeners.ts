import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ListenHandle } from '../ports/listen-handle.js';

/**
 * A worker's listeners: one net.Server per port on the socket the control
 * plane bound and sent (its copy of the descriptor). Every worker listens on
 * the same socket and the kernel gives each connection to one of those
 * waiting in accept(), so no connection passes through the control plane.
 * Closing a listener closes only this worker's copy: the port stays bound
 * (and its queued connections wait for another worker) until the control
 * plane and every worker let go of it.
 */
export class WorkerListeners {
  readonly #servers = new Map<number, Server>();
  readonly #onConnection: (socket: Socket, port: number) => void;
  readonly #logger: Logger;

  constructor(onConnection: (socket: Socket, port: number) => void, logger: Logger) {
    this.#onConnection = onConnection;
    this.#logger = logger;
  }

  /** Starts accepting on a port's shared socket. A port it already listens on keeps its listener. */
  listen(port: number, handle: ListenHandle): Promise<void> {
    if (this.#servers.has(port)) {
      // A second copy of the same socket: this worker accepts from its first one already.
      handle.close();
      return Promise.resolve();
    }
    const server = createServer({ noDelay: true });
    this.#servers.set(port, server);
    return new Promise((resolve, reject) => {
      server.once('error', (error) => {
        this.#servers.delete(port);
        reject(error);
      });
      // Typed by @types/node as a net.Server or a { fd } object; Node takes the TCP handle itself too.
      server.listen(handle as unknown as { fd: number }, () => {
        server.removeAllListeners('error');
        // After listening, errors are accept() failures (EMFILE, …): log, keep serving.
        server.on('error', (error) => this.#logger.error({ port, err: error }, 'listener error'));
        server.on('connection', (socket: Socket) => this.#onConnection(socket, port));
        resolve();
      });
    });
  }

  /** Ports it accepts on. */
  ports(): number[] {
    return [...this.#servers.keys()];
  }

  close(port: number): void {
    // No callback wait: open connections belong to the data path and drain with it.
    this.#servers.get(port)?.close();
    this.#servers.delete(port);
  }

  closeAll(): void {
    for (const port of this.ports()) this.close(port);
  }
}
