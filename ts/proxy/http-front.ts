import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ProxyContext } from './context.js';
import { handleRequest, handleUpgrade } from './http-handler.js';
import { parseErrorAction, serveInOrder } from './node-order.js';
import { FastFront } from './fast/fast-front.js';
import { H2Engine } from './h2/h2-engine.js';
import { transportOf } from './tls/terminate.js';
import { rawStatusResponse } from './http-responses.js';

/**
 * One http.Server per port that speaks HTTP, never listening itself: the
 * port's single net.Server hands it sockets (plain, or TLS we terminated)
 * with emit('connection'), so plain and terminated HTTP share the parser
 * and one listener serves every protocol on the port.
 */
export class HttpFronts {
  readonly #servers = new Map<number, Server>();
  /** HTTP connections by the socket the tracker counts (the plain one under terminated TLS). */
  readonly #httpSockets = new WeakMap<Socket, Socket>();
  readonly #ctx: ProxyContext;
  /** The fast path for plain HTTP/1.1; it hands Node the connections it does not serve. */
  readonly fast: FastFront;
  /** HTTP/2 sessions on terminated TLS whose ALPN chose `h2`. */
  readonly #h2: H2Engine;

  constructor(ctx: ProxyContext) {
    this.#ctx = ctx;
    this.fast = new FastFront(ctx, this);
    this.#h2 = new H2Engine(ctx);
  }

  /** Counts a socket the fast path serves as an HTTP connection, for isIdleHttp. */
  markHttp(socket: Socket): void {
    this.#httpSockets.set(transportOf(socket), socket);
  }

  /**
   * Serves an HTTP connection, plain or TLS we terminated: HTTP/2 when ALPN
   * chose `h2`, else the fast HTTP/1.1 engine first, which hands Node's
   * server what it does not serve. `peeked` are bytes already read from a
   * plain socket.
   */
  accept(port: number, socket: Socket, peeked?: Buffer): void {
    if ((socket as TLSSocket).alpnProtocol === 'h2') {
      this.markHttp(socket);
      return this.#h2.accept(port, socket as TLSSocket);
    }
    this.fast.accept(port, socket, peeked);
  }

  /** Gives a connection to Node's HTTP server for the port, for the rest of its life. */
  acceptNode(port: number, socket: Socket): void {
    this.markHttp(socket);
    this.#serverFor(port).emit('connection', socket);
  }

  /** Whether the socket is an HTTP connection with no request in flight (safe to close when draining). */
  isIdleHttp(socket: Socket): boolean {
    const http = this.#httpSockets.get(socket);
    return http !== undefined && this.#ctx.tracker.isIdle(http);
  }

  /** Drops the server of a port no longer bound; its open connections finish on their own. */
  release(port: number): void {
    const server = this.#servers.get(port);
    if (server === undefined) return;
    this.#servers.delete(port);
    server.close();
  }

  /** The start of stop()'s drain: HTTP/2 clients get GOAWAY, so they open no stream the deadline would cut. */
  beginDrain(): void {
    this.#h2.drain();
  }

  closeAll(): void {
    this.#h2.close();
    for (const port of [...this.#servers.keys()]) this.release(port);
  }

  #serverFor(port: number): Server {
    let server = this.#servers.get(port);
    if (server !== undefined) return server;
    const ctx = this.#ctx;
    server = createServer({
      headersTimeout: ctx.timeouts.headersMs,
      requestTimeout: 0,
      keepAliveTimeout: ctx.timeouts.keepAliveMs,
      maxHeaderSize: ctx.limits.maxHeaderBytes,
      // The router refuses a request without Host itself, on every engine, and counts it.
      requireHostHeader: false,
      // Checked every second; Node's default of 30 s would let slowloris clients linger far past headersTimeout.
      connectionsCheckingInterval: 1000,
    });
    // Node drops the fields past maxHeadersCount in silence, framing ones included: it keeps one more
    // than the limit so that matchRequest sees the request is over it and answers 431.
    const maxCount = ctx.limits.maxHeaderCount;
    server.maxHeadersCount = Number.isFinite(maxCount) ? maxCount + 1 : 0;
    server.on('request', (req, res) => serveInOrder(req, res, () => handleRequest(ctx, port, req, res)));
    // Expect: 100-continue is answered when its request's turn comes (node-order.ts), never ahead of an earlier response.
    server.on('checkContinue', (req, res) => serveInOrder(req, res, () => handleRequest(ctx, port, req, res)));
    server.on('upgrade', (req, socket: Socket, head: Buffer) => handleUpgrade(ctx, port, req, socket, head));
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      ctx.logger.debug({ port, err: error.message }, 'bad HTTP request');
      if (!socket.writable || error.code === 'ECONNRESET') return void socket.destroy();
      // A 400 is written only where it answers the bytes that failed: never inside or ahead of a response still owed.
      const action = parseErrorAction(socket);
      if (action === 'cut') return void socket.destroy();
      if (action === 'wait') return;
      const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      if (status === 408) ctx.limitReporter.hit('timeouts.headersMs', { port });
      if (status === 431) ctx.limitReporter.hit('maxHeaderBytes', { port, max: ctx.limits.maxHeaderBytes });
      ctx.metrics.answered(port, status);
      socket.end(rawStatusResponse(status, undefined, true));
    });
    // Node starts its header/request timeout checks when a server starts
    // listening; this one never listens, so tell it once that it is serving.
    server.emit('listening');
    this.#servers.set(port, server);
    return server;
  }
}
