import type { Socket } from 'node:net';
import type { ProxyContext } from '../context.js';
import { FastConnection } from './fast-connection.js';
import type { UpstreamPool } from '../upstream/pool.js';

/** How often head and keep-alive deadlines are checked. Default: 1 s, as Node's connectionsCheckingInterval here. */
const sweepMs = 1000;

/** Where a connection goes when the fast path will not serve it: Node's HTTP server for the port. */
export interface HandOver {
  acceptNode(port: number, socket: Socket): void;
  markHttp(socket: Socket): void;
}

/**
 * The fast path for plain HTTP/1.1 connections: owns the deadline sweep
 * of every fast connection (one interval for all of them instead of a timer
 * per request). Its upstream sockets come from the proxy's one pool
 * (ctx.pool), which Node's server and HTTP/2 streams forward over too.
 */
export class FastFront {
  readonly #ctx: ProxyContext;
  readonly #node: HandOver;
  readonly #connections = new Set<FastConnection>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(ctx: ProxyContext, node: HandOver) {
    this.#ctx = ctx;
    this.#node = node;
  }

  get pool(): UpstreamPool {
    return this.#ctx.pool;
  }

  /** Serves an HTTP/1.1 connection (plain, or TLS the proxy terminated); `peeked` are bytes already read from it. */
  accept(port: number, socket: Socket, peeked: Buffer | undefined): void {
    this.#node.markHttp(socket);
    const connection = new FastConnection(this, this.#ctx, socket, port, peeked);
    this.#connections.add(connection);
    this.#sweeper ??= setInterval(this.#sweep, sweepMs).unref();
    connection.start();
  }

  /** Called by a connection that closed or was handed over. */
  forget(connection: FastConnection): void {
    this.#connections.delete(connection);
    if (this.#connections.size === 0 && this.#sweeper !== undefined) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  handOver(port: number, socket: Socket): void {
    this.#node.acceptNode(port, socket);
    socket.resume();
  }

  readonly #sweep = (): void => {
    const now = Date.now();
    for (const connection of this.#connections) {
      if (connection.deadline !== 0 && connection.deadline <= now) connection.expire();
    }
  };
}
