import type { Socket } from 'node:net';
import { isClientAllowed, type Route } from '../routing/route.js';
import type { PortTable } from '../routing/route-table.js';
import { routeTimeout, type ProxyContext } from './context.js';
import type { Meter } from '../metrics/metrics.js';
import { rememberSniRoute } from './http-handler.js';
import type { HttpFronts } from './http-front.js';
import { peekClientHello, type PeekResult } from './peek.js';
import { runSocketHandler } from './socket-handler.js';
import { forwardTcp } from './tcp-forward.js';
import { sendAlertAndClose } from './tls/alerts.js';
import { terminateTls } from './tls/terminate.js';
import { clientAddress, inheritClientAddress, setProxiedAddress } from './proxy-protocol/client-address.js';
import { startsLikeProxyHeader } from './proxy-protocol/header.js';
import { readProxyHeader, type ReadResult } from './proxy-protocol/reader.js';
import { unmapIPv4 } from '../routing/ip-matcher.js';

/** ALPN offered on terminated HTTP: HTTP/2 first (browsers get it without configuration), HTTP/1.1 otherwise. */
const httpAlpn = ['h2', 'http/1.1'];
/** A route with `action.tls.http2: false`. */
const http1Alpn = ['http/1.1'];

/**
 * Entry point of every accepted connection: accept → (peek) → match →
 * action. It reads the route table current at that moment; the listener
 * that accepted the socket knows nothing about routes.
 */
export class ConnectionRouter {
  readonly #ctx: ProxyContext;
  readonly #http: HttpFronts;

  constructor(ctx: ProxyContext, http: HttpFronts) {
    this.#ctx = ctx;
    this.#http = http;
  }

  readonly handle = (socket: Socket, port: number): void => {
    // First, before anything else can fail: a client reset must never become an uncaught error.
    socket.on('error', (error) => {
      this.#ctx.logger.debug({ port, err: error.message }, 'client socket error');
      socket.destroy();
    });
    // ---- PROXY protocol: a trusted balancer's header comes before anything else is read ----
    const allowFrom = this.#ctx.proxyProtocol;
    if (allowFrom !== undefined && allowFrom.matches(unmapIPv4(socket.remoteAddress ?? ''))) {
      // Counted before the header is read, so the global cap holds and stop() closes a connection still waiting for one.
      if (!this.#admitGlobal(socket, port)) return;
      readProxyHeader(socket, this.#ctx.timeouts.clientHelloMs, (result, rest) => this.#afterProxyHeader(socket, port, result, rest));
      return;
    }
    this.#accept(socket, port);
  };

  /** A trusted peer's header was read: its client address is the client from now on, or the connection is refused. */
  #afterProxyHeader(socket: Socket, port: number, result: ReadResult, rest: Buffer | undefined): void {
    if (result.kind !== 'ok') {
      if (result.kind === 'timeout') this.#ctx.limitReporter.hit('timeouts.clientHelloMs', { port });
      this.#ctx.logger.debug({ port, reason: result.kind === 'invalid' ? result.reason : result.kind }, 'refusing a connection without a valid PROXY protocol header');
      return void socket.destroy();
    }
    if (result.address !== undefined) setProxiedAddress(socket, result.address);
    if (rest !== undefined) socket.unshift(rest);
    if (!socket.destroyed) this.#accept(socket, port, true);
  }

  #accept(socket: Socket, port: number, tracked = false): void {
    const ctx = this.#ctx;
    if (!tracked && !this.#admitGlobal(socket, port)) return;
    if (!this.#admitClient(socket, port)) return;
    const table = ctx.routes.table.ports.get(port);
    if (table === undefined) return void socket.destroy();
    if (ctx.timeouts.maxLifetimeMs > 0) limitLifetime(socket, ctx.timeouts.maxLifetimeMs);
    if (table.tls !== undefined) {
      peekClientHello(socket, ctx.timeouts.clientHelloMs, (result, buffered) => this.#afterPeek(socket, port, result, buffered));
    } else {
      this.#plain(socket, port, table, undefined);
    }
  }

  /**
   * Per-client limits, checked before a byte of the request is read (the
   * global cap was checked by #admitGlobal): the client's concurrent
   * connections and connection rate, by its address (a PROXY header's when
   * one came). Counts the connection in the metrics once it is admitted.
   */
  #admitClient(socket: Socket, port: number): boolean {
    const ctx = this.#ctx;
    const clientIp = clientIpOf(socket);
    const limited = ctx.clientLimits.enabled;
    if (limited) {
      const refusal = ctx.clientLimits.admit(clientIp);
      if (refusal !== undefined) {
        ctx.limitReporter.hit(refusal, { port, clientIp, limit: ctx.limits[refusal] });
        socket.destroy();
        return false;
      }
    }
    // One record and one shared listener per connection, rather than a closure (and once-wrapper) per thing to undo.
    (socket as AdmittedSocket)[kAdmitted] = { ctx, port, clientIp: limited ? clientIp : undefined, meter: ctx.metrics.connectionOpened(port, socket) };
    socket.on('close', admittedClosed);
    return true;
  }

  /** The global cap, checked before a byte is read; an admitted socket is tracked from then on (stop() drains it). */
  #admitGlobal(socket: Socket, port: number): boolean {
    const ctx = this.#ctx;
    if (ctx.tracker.size >= ctx.limits.maxConnections) {
      ctx.limitReporter.hit('maxConnections', { port, max: ctx.limits.maxConnections });
      socket.destroy();
      return false;
    }
    ctx.tracker.add(socket);
    return true;
  }

  #afterPeek(socket: Socket, port: number, result: PeekResult, buffered: Buffer): void {
    // Routes may have changed while we waited for the ClientHello.
    const table = this.#ctx.routes.table.ports.get(port);
    if (table === undefined || socket.destroyed) return void socket.destroy();
    switch (result.kind) {
      case 'ok':
        return this.#tls(socket, port, table, result.serverName, result.alpnProtocols, buffered);
      case 'not-tls':
        return this.#plain(socket, port, table, buffered);
      case 'invalid':
        // Told, not just closed: the client reports a TLS alert instead of an unexplained reset.
        this.#ctx.logger.debug({ port, reason: result.reason, alert: result.alert }, 'refusing an unreadable ClientHello');
        return sendAlertAndClose(socket, result.alert);
      default:
        if (result.kind === 'timeout') this.#ctx.limitReporter.hit('timeouts.clientHelloMs', { port });
        this.#ctx.logger.debug({ port, reason: result.kind }, 'closing connection without a ClientHello');
        socket.destroy();
    }
  }

  /** A connection that is not TLS: HTTP if the port parses HTTP, otherwise matched at once as TCP. */
  #plain(socket: Socket, port: number, table: PortTable, peeked: Buffer | undefined): void {
    // A PROXY header from a peer not in proxyProtocol.allowFrom is a forged client address: refused.
    if (this.#ctx.proxyProtocol !== undefined && peeked !== undefined && startsLikeProxyHeader(peeked)) return void socket.destroy();
    if (table.http !== undefined) {
      // The fast engine takes it; it hands anything unusual to Node's server itself.
      this.#http.accept(port, socket, peeked);
      return;
    }
    const clientIp = clientIpOf(socket);
    const route = table.tcp?.match(undefined, undefined, clientIp);
    if (route === undefined) {
      // On a TLS port this is an SSLv2-style hello or junk: say handshake_failure, as OpenSSL would.
      if (table.tls !== undefined) return sendAlertAndClose(socket, 'handshake_failure');
      return void socket.destroy();
    }
    this.#tcpAction(socket, port, route, clientIp, undefined, peeked);
  }

  #tls(socket: Socket, port: number, table: PortTable, serverName: string | undefined, alpn: string[], peeked: Buffer): void {
    const ctx = this.#ctx;
    if (alpn.includes('acme-tls/1') && serverName !== undefined) {
      const challenge = ctx.certificates.answerTlsAlpnChallenge?.(serverName);
      if (challenge !== undefined) return terminateTls(ctx, socket, peeked, challenge, ['acme-tls/1'], (s) => s.end());
      // An order another instance placed: its answer is in the shared store (only acme-tls/1 handshakes wait on it).
      const lookup = ctx.certificates.lookupTlsAlpnChallenge?.(serverName);
      if (lookup !== undefined) {
        lookup.then(
          (found) => {
            if (socket.destroyed) return;
            if (found !== undefined) terminateTls(ctx, socket, peeked, found, ['acme-tls/1'], (s) => s.end());
            else this.#tlsRoute(socket, port, table, serverName, peeked);
          },
          (error: unknown) => {
            ctx.logger.debug({ serverName, err: error }, 'looking up a TLS-ALPN-01 answer in the shared store');
            if (!socket.destroyed) this.#tlsRoute(socket, port, table, serverName, peeked);
          },
        );
        return;
      }
    }
    this.#tlsRoute(socket, port, table, serverName, peeked);
  }

  /** A TLS connection that is not a challenge: matched by SNI against the port's routes. */
  #tlsRoute(socket: Socket, port: number, table: PortTable, serverName: string | undefined, peeked: Buffer): void {
    const ctx = this.#ctx;
    const clientIp = clientIpOf(socket);
    // A TLS connection no TLS route claims may still go to a plain TCP catch-all as raw bytes.
    const route = table.tls?.match(serverName, undefined, clientIp) ?? table.tcp?.match(undefined, undefined, clientIp);
    if (route === undefined) {
      ctx.logger.debug({ port, serverName }, 'no route for TLS server name');
      // RFC 6066 §3: a server that does not serve the name may answer unrecognized_name.
      return sendAlertAndClose(socket, serverName === undefined ? 'handshake_failure' : 'unrecognized_name');
    }
    if (route.tlsMode === undefined || route.tlsMode === 'passthrough') {
      return this.#tcpAction(socket, port, route, clientIp, serverName, peeked);
    }
    const isHandler = route.action.type === 'socket-handler';
    // Terminated HTTP is counted per request by the HTTP handler; a socket handler holds the connection.
    if (isHandler ? !this.#admit(socket, route, clientIp) : !isClientAllowed(route, clientIp)) return void socket.destroy();
    const secureContext = ctx.certificates.secureContextFor(route, serverName);
    if (secureContext === undefined) {
      ctx.logger.warn({ port, serverName, route: route.name }, 'no certificate available yet for this name; closing');
      return sendAlertAndClose(socket, 'internal_error');
    }
    const offered = isHandler ? undefined : route.action.tls?.http2 === false ? http1Alpn : httpAlpn;
    terminateTls(ctx, socket, peeked, secureContext, offered, (tlsSocket) => {
      if (isHandler) inheritClientAddress(tlsSocket, socket);
      if (isHandler) return runSocketHandler(ctx, route, tlsSocket, port, clientIp, serverName);
      inheritClientAddress(tlsSocket, socket);
      rememberSniRoute(tlsSocket, route, serverName);
      this.#http.accept(port, tlsSocket);
    });
  }

  /** Actions on a whole connection: pipe it, hand it over, or refuse it. */
  #tcpAction(socket: Socket, port: number, route: Route, clientIp: string, serverName: string | undefined, peeked: Buffer | undefined): void {
    if (!this.#admit(socket, route, clientIp)) return;
    switch (route.action.type) {
      case 'forward':
        if (this.#ctx.accessLog !== undefined) this.#ctx.accessLog.trackConnection(socket, route.name, port, serverName);
        return forwardTcp(this.#ctx, route, socket, port, peeked);
      case 'socket-handler':
        if (peeked !== undefined) socket.unshift(peeked);
        return runSocketHandler(this.#ctx, route, socket, port, clientIp, serverName);
      default:
        socket.destroy();
    }
  }

  /**
   * Security checks before any upstream is contacted; counts the whole
   * connection against the route's limit and in its metrics.
   */
  #admit(socket: Socket, route: Route, clientIp: string): boolean {
    const ctx = this.#ctx;
    const state = route.state;
    if (!isClientAllowed(route, clientIp)) {
      socket.destroy();
      return false;
    }
    if (state.connections >= route.maxConnections) {
      ctx.limitReporter.hit('route.maxConnections', { route: route.name, max: route.maxConnections });
      socket.destroy();
      return false;
    }
    state.connections++;
    const meter = ctx.metrics.routeConnectionOpened(route.name, socket);
    socket.once('close', () => {
      state.connections--;
      ctx.metrics.routeConnectionClosed(meter);
    });
    const lifetime = routeTimeout(ctx, route, 'maxLifetimeMs');
    if (lifetime > 0 && lifetime !== ctx.timeouts.maxLifetimeMs) limitLifetime(socket, lifetime);
    return true;
  }
}

/** What closing an admitted connection undoes: its per-client count (when limits are on) and its metrics. */
const kAdmitted = Symbol('admitted');
type AdmittedSocket = Socket & { [kAdmitted]?: { ctx: ProxyContext; port: number; clientIp: string | undefined; meter: Meter } };

function admittedClosed(this: AdmittedSocket): void {
  const admitted = this[kAdmitted]!;
  if (admitted.clientIp !== undefined) admitted.ctx.clientLimits.release(admitted.clientIp);
  admitted.ctx.metrics.connectionClosed(admitted.port, admitted.meter);
}

/** Closes the connection once it is `ms` old, whatever it is doing (maxLifetimeMs). */
function limitLifetime(socket: Socket, ms: number): void {
  const timer = setTimeout(() => socket.destroy(), ms);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** The client's address: a PROXY header's when a trusted balancer sent one (see proxy-protocol/client-address.ts). */
function clientIpOf(socket: Socket): string {
  return clientAddress(socket);
}
