/**
 * The access log: one record per HTTP request that reached a route, and one
 * per TCP or passthrough connection, written through pino. Per connection
 * (per stream on HTTP/2, where requests share a connection) one small record
 * is kept (in a WeakMap) and refilled by each request, so an HTTP/1.1 request
 * allocates nothing beyond the log line; with the log off the
 * engines skip every call behind one `ctx.accessLog !== undefined` test.
 */
import type { Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import { clientAddress } from './proxy-protocol/client-address.js';

/** What one connection's current request has told the log so far. */
interface Pending {
  start: number;
  method: string;
  host: string;
  path: string;
  protocol: string;
  upstream: string | undefined;
  upstreamStart: number;
  upstreamMs: number;
}

/** Keyed by what carries one request at a time: the connection for HTTP/1.1 and TCP, the stream for HTTP/2. */
const pending = new WeakMap<object, Pending>();

/** Marks the start of a request on `key` (its connection or stream; routed, not yet answered). */
export function beginRequest(key: object, method: string, host: string, path: string, protocol: string): void {
  let p = pending.get(key);
  if (p === undefined) {
    p = { start: 0, method: '', host: '', path: '', protocol: '', upstream: undefined, upstreamStart: 0, upstreamMs: -1 };
    pending.set(key, p);
  }
  p.start = performance.now();
  p.method = method;
  p.host = host;
  p.path = path;
  p.protocol = protocol;
  p.upstream = undefined;
  p.upstreamMs = -1;
}

/** The upstream target the request (or TCP connection) went to; its time starts now. */
export function noteUpstream(key: object, target: string): void {
  let p = pending.get(key);
  if (p === undefined) {
    beginRequest(key, '', '', '', 'tcp');
    p = pending.get(key)!;
  }
  p.upstream = target;
  p.upstreamStart = performance.now();
}

/** The upstream's response head arrived: the upstream time is the time to it. */
export function noteUpstreamResponse(key: object): void {
  const p = pending.get(key);
  if (p !== undefined && p.upstream !== undefined) p.upstreamMs = Math.round((performance.now() - p.upstreamStart) * 100) / 100;
}

/** Where the records go: `accessLog: true` (the proxy's logger if you gave one, else pino on stdout asynchronously) or `{ logger }`. */
export class AccessLog {
  readonly #logger: Logger;
  readonly #flush: (() => void) | undefined;

  constructor(option: true | { logger: Logger }, userLogger: Logger | undefined) {
    if (option !== true) {
      this.#logger = option.logger;
    } else if (userLogger !== undefined) {
      this.#logger = userLogger.child({ name: 'smartproxy-access' });
    } else {
      // pino's async destination: a request never waits for stdout; the buffer is flushed on stop().
      const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
      this.#logger = pino({ name: 'smartproxy-access', base: undefined }, destination);
      this.#flush = () => destination.flushSync();
    }
  }

  /** One record for a finished request (`key`: its connection or stream) from the client on `socket`. */
  request(key: object, socket: Socket, route: string, port: number, status: number, bytesIn: number, bytesOut: number): void {
    const p = pending.get(key);
    if (p === undefined) return;
    this.#logger.info(
      {
        type: 'http',
        clientIp: clientAddress(socket),
        port,
        route,
        method: p.method,
        host: p.host,
        path: p.path,
        status,
        bytesIn,
        bytesOut,
        durationMs: Math.round((performance.now() - p.start) * 100) / 100,
        upstream: p.upstream,
        upstreamMs: p.upstreamMs < 0 ? undefined : p.upstreamMs,
        protocol: p.protocol,
      },
      'access',
    );
  }

  /** Logs the TCP or passthrough connection when it closes. */
  trackConnection(socket: Socket, route: string, port: number, serverName: string | undefined): void {
    const start = performance.now();
    const clientIp = clientAddress(socket);
    socket.once('close', () => {
      this.#logger.info(
        {
          type: 'tcp',
          clientIp,
          port,
          route,
          sni: serverName,
          // The whole connection: the bytes read while peeking at the ClientHello were the client's too.
          bytesIn: socket.bytesRead,
          bytesOut: socket.bytesWritten,
          durationMs: Math.round((performance.now() - start) * 100) / 100,
          upstream: pending.get(socket)?.upstream,
        },
        'access',
      );
    });
  }

  /** Writes out what the async destination still holds. */
  flush(): void {
    try {
      this.#flush?.();
    } catch {
      // Not ready yet (nothing was written): nothing to flush.
    }
  }
}
