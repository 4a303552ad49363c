/**
 * The HTTP/2 transport: terminated TLS connections whose ALPN chose `h2`
 * become HTTP/2 sessions (http2.performServerHandshake on our own
 * TLSSocket, no second server). Streams enter the same HTTP pipeline as
 * HTTP/1.1 requests; only sessions, streams and their limits are here.
 */
import type { TLSSocket } from 'node:tls';
import type { ProxyContext } from '../context.js';
import { H2Session } from './h2-session.js';

export class H2Engine {
  readonly #ctx: ProxyContext;
  readonly #sessions = new Map<TLSSocket, H2Session>();
  #draining = false;

  constructor(ctx: ProxyContext) {
    this.#ctx = ctx;
  }

  /** Serves a TLS connection that negotiated `h2` for the rest of its life. */
  accept(port: number, socket: TLSSocket): void {
    let session: H2Session;
    try {
      session = new H2Session(this.#ctx, port, socket);
    } catch (error) {
      this.#ctx.logger.debug({ port, err: (error as Error).message }, 'HTTP/2 session could not start');
      return void socket.destroy();
    }
    this.#sessions.set(socket, session);
    session.session.once('close', () => this.#sessions.delete(socket));
    if (this.#draining) session.goAway();
  }

  /** stop(): GOAWAY on every session; open streams finish within the drain time, idle sessions close now. */
  drain(): void {
    this.#draining = true;
    for (const session of this.#sessions.values()) session.goAway();
  }

  close(): void {
    for (const session of [...this.#sessions.values()]) session.destroy();
    this.#sessions.clear();
  }
}
