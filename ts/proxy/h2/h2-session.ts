/**
 * One HTTP/2 session on a TLS connection the proxy terminated, and the
 * abuse limits that belong to a session rather than to a request: open
 * streams, streams per session, idle time, and rapid reset
 * (CVE-2023-44487). Each stream it admits goes to the pipeline through
 * serveStream.
 */
import { constants, performServerHandshake, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { ProxyContext } from '../context.js';
import { resetStream, wasResetByProxy } from './h2-response.js';
import { serveStream, type StreamHost } from './h2-stream.js';

/** The listener that keeps a stream error (a client reset) from being thrown: the stream's 'close' handles it. */
function ignore(): void {}

/**
 * Envoy's rule for rapid reset: once a session has opened this many
 * streams, it is closed if more than half of them were reset by the client
 * within `prematureResetMs` of being opened.
 */
export const rapidReset = Object.freeze({ minStreams: 500, prematureResetMs: 1000 });

/** A TLS socket whose handshake the proxy ran itself; Node's TLSSocket types leave the flag out. */
type HandshakenSocket = TLSSocket & { secureConnecting?: boolean };

/**
 * A session's streams and limits. Settings: `http2.maxConcurrentStreams`
 * (default 100), `http2.maxHeaderListBytes` (32768), `http2.streamWindowBytes`
 * (65535) and `http2.sessionWindowBytes` (1 MiB); GOAWAY after
 * `http2.maxStreamsPerSession` streams (10000) and after `http2.idleMs`
 * without an open stream (60000 ms).
 */
export class H2Session implements StreamHost {
  readonly port: number;
  readonly socket: TLSSocket;
  readonly session: ServerHttp2Session;
  readonly #ctx: ProxyContext;
  /** Streams open in the proxy (a stream nghttp2 closed counts until its upstream request was aborted). */
  #open = 0;
  /** Forwarded requests whose upstream exchange is not over: never more than maxConcurrentStreams. */
  #upstream = 0;
  #streams = 0;
  #prematureResets = 0;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(ctx: ProxyContext, port: number, socket: TLSSocket) {
    this.#ctx = ctx;
    this.port = port;
    this.socket = socket;
    const limits = ctx.http2;
    // A server TLSSocket gets this flag cleared by the tls.Server that owns it; ours has none, and
    // Node's session would otherwise wait for a 'secureConnect' that a server socket never emits.
    (socket as HandshakenSocket).secureConnecting = false;
    const maxCount = ctx.limits.maxHeaderCount;
    this.session = performServerHandshake(socket, {
      settings: {
        maxConcurrentStreams: limits.maxConcurrentStreams,
        maxHeaderListSize: limits.maxHeaderListBytes,
        initialWindowSize: limits.streamWindowBytes,
        enablePush: false,
      },
      // Room past limits.maxHeaderCount, so matchRequest sees a request over it and answers 431 as on
      // HTTP/1.1; Node resets a stream with more pairs than this (and maxHeaderListBytes bounds it anyway).
      maxHeaderListPairs: Number.isFinite(maxCount) ? 2 * maxCount + 8 : 4096,
    });
    const session = this.session;
    session.setLocalWindowSize(limits.sessionWindowBytes);
    session.on('error', (error: NodeJS.ErrnoException) => this.#onError(error));
    session.on('stream', (stream: ServerHttp2Stream, _headers: unknown, _flags: number, rawHeaders?: string[]) => this.#onStream(stream, rawHeaders ?? []));
    session.once('close', () => clearTimeout(this.#idleTimer));
    this.#armIdle();
  }

  upstreamStarted(): void {
    this.#upstream++;
  }

  upstreamFinished(): void {
    this.#upstream--;
  }

  /** GOAWAY: no new streams; open ones finish, then the session and its connection close. */
  goAway(): void {
    if (!this.session.closed && !this.session.destroyed) this.session.close();
  }

  destroy(): void {
    this.session.destroy();
  }

  #onStream(stream: ServerHttp2Stream, rawHeaders: string[]): void {
    // A client reset surfaces as a stream error; the stream's 'close' does the accounting.
    stream.on('error', ignore);
    if (stream.destroyed || stream.closed) return;
    const ctx = this.#ctx;
    const limits = ctx.http2;
    this.#streams++;
    // nghttp2 refuses streams over SETTINGS_MAX_CONCURRENT_STREAMS; this also holds while closed streams
    // still wait for their upstream request to be torn down, so resets never pile up upstream.
    if (this.#open >= limits.maxConcurrentStreams || this.#upstream >= limits.maxConcurrentStreams) {
      ctx.limitReporter.hit('http2.maxConcurrentStreams', { port: this.port, max: limits.maxConcurrentStreams });
      return resetStream(stream, constants.NGHTTP2_REFUSED_STREAM);
    }
    this.#open++;
    clearTimeout(this.#idleTimer);
    const openedAt = performance.now();
    if (this.#streams >= limits.maxStreamsPerSession) {
      ctx.limitReporter.hit('http2.maxStreamsPerSession', { port: this.port, max: limits.maxStreamsPerSession });
      this.goAway();
    }
    const served = serveStream(ctx, this, stream, rawHeaders);
    // The stream's one 'close' listener ('close' comes on a later tick, so nothing is missed by adding it now):
    // the session's limits first, then the request's own accounting and upstream teardown.
    stream.on('close', () => {
      this.#onStreamClose(stream, openedAt);
      served?.closed();
    });
  }

  #onStreamClose(stream: ServerHttp2Stream, openedAt: number): void {
    this.#open--;
    // nghttp2 resets a stream whose client sent more than its window; the stream's close is all the proxy sees of it.
    if (stream.rstCode === constants.NGHTTP2_FLOW_CONTROL_ERROR && !wasResetByProxy(stream)) {
      this.#ctx.limitReporter.hit('http2.flowControl', { port: this.port, window: this.#ctx.http2.streamWindowBytes });
    }
    const resetByClient = (stream.aborted || stream.rstCode !== constants.NGHTTP2_NO_ERROR) && !wasResetByProxy(stream) && !this.session.destroyed;
    if (resetByClient && performance.now() - openedAt < rapidReset.prematureResetMs) {
      this.#prematureResets++;
      if (this.#streams >= rapidReset.minStreams && this.#prematureResets * 2 > this.#streams) return this.#closeForRapidReset();
    }
    if (this.#open === 0) this.#armIdle();
  }

  #closeForRapidReset(): void {
    this.#ctx.limitReporter.hit('http2.rapidReset', { port: this.port, streams: this.#streams, resets: this.#prematureResets });
    this.session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    this.session.destroy();
  }

  #armIdle(): void {
    if (this.session.closed || this.session.destroyed) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.goAway(), this.#ctx.http2.idleMs);
    this.#idleTimer.unref();
  }

  /**
   * nghttp2 ends a session on a protocol violation (a CONTINUATION flood,
   * a header block it cannot decode, a flow-control window overrun) and
   * Node reports it here; the connection is closed with it.
   */
  #onError(error: NodeJS.ErrnoException): void {
    const code = error.code;
    // ERR_HTTP2_ERROR is nghttp2 failing the session for something the client sent; a client's own
    // GOAWAY with an error code (ERR_HTTP2_SESSION_ERROR) or a reset is the client's business.
    if (code === 'ERR_HTTP2_ERROR') {
      this.#ctx.limitReporter.hit('http2.protocolError', { port: this.port, err: error.message });
    } else {
      this.#ctx.logger.debug({ port: this.port, err: error.message, code }, 'HTTP/2 session error');
    }
    this.session.destroy();
  }
}
