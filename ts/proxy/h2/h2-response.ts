/**
 * The two ways an HTTP/2 stream is answered, each an adapter to an
 * interface the pipeline already writes to: a `ResponseSink` for forwarded
 * responses (http/forward.ts) and an `ActionResponse` for the proxy's own
 * answers (http-actions.ts, http-responses.ts). No status, header rule or
 * body of the proxy's is written here a second time.
 */
import { constants, type ServerHttp2Stream, type ServerStreamResponseOptions } from 'node:http2';
import type { ResponseSink } from '../http/forward.js';
import { sendStatus, type ActionResponse } from '../http-responses.js';
import { recordHeaders, responseHeaders, trailerHeaders } from './h2-headers.js';

/** Streams the proxy reset itself (upstream failure, torn response): not counted as client resets. */
const resetByProxy = new WeakSet<ServerHttp2Stream>();

/** Resets the stream (INTERNAL_ERROR unless told), remembering that the proxy, not the client, ended it. */
export function resetStream(stream: ServerHttp2Stream, code: number = constants.NGHTTP2_INTERNAL_ERROR): void {
  resetByProxy.add(stream);
  if (stream.closed) return;
  // close(code) on a stream whose response data was all flushed ends it with
  // END_STREAM (Node 20), so a torn body would look complete to the client;
  // destroying it with an error always sends RST_STREAM INTERNAL_ERROR.
  if (code === constants.NGHTTP2_INTERNAL_ERROR) stream.destroy(new Error('stream reset by the proxy'));
  else stream.close(code);
}

/** Whether the stream was reset by the proxy (see resetStream). */
export function wasResetByProxy(stream: ServerHttp2Stream): boolean {
  return resetByProxy.has(stream);
}

/**
 * The proxy's own answers on a stream. A response to HEAD carries no body
 * (RFC 9110 §9.3.2), as Node's ServerResponse does for HTTP/1.1.
 */
export function streamActionResponse(stream: ServerHttp2Stream, method: string | undefined): ActionResponse {
  const head = method === 'HEAD';
  return {
    get headersSent() {
      return stream.headersSent;
    },
    writeHead(status, headers) {
      if (stream.destroyed || stream.closed) return;
      stream.respond(recordHeaders(status, headers), { endStream: head });
    },
    end(body) {
      if (stream.destroyed || stream.closed || head) return;
      stream.end(body);
    },
    destroy() {
      resetStream(stream);
    },
  };
}

/** respond() options, made once rather than per stream. */
const respondWithBody: ServerStreamResponseOptions = Object.freeze({});
const respondWithTrailers: ServerStreamResponseOptions = Object.freeze({ waitForTrailers: true });
const respondEmpty: ServerStreamResponseOptions = Object.freeze({ endStream: true });

/**
 * The sink a forwarded response is written to. `close` (a retired route)
 * needs nothing here: every stream is routed afresh against the live table.
 * `head()` throws (ERR_HTTP2_*) on a head HTTP/2 cannot carry; the
 * forwarder turns that into 502. A class, not an object of closures: one
 * allocation per stream, and one shape for the forwarder to call.
 */
export class StreamSink implements ResponseSink {
  readonly body: ServerHttp2Stream;
  readonly #method: string;
  readonly #acceptsTrailers: boolean;
  /** The upstream's HTTP/1.1 trailers (chunked), sent as HTTP/2 trailers once the body is written. */
  #trailers: readonly string[] = [];

  constructor(stream: ServerHttp2Stream, method: string, acceptsTrailers: boolean) {
    this.body = stream;
    this.#method = method;
    this.#acceptsTrailers = acceptsTrailers;
  }

  get started(): boolean {
    return this.body.headersSent || this.body.destroyed;
  }

  head(status: number, _reason: string, headers: string[], _close: boolean, empty: boolean): void {
    const stream = this.body;
    // HTTP/2 has no reason phrase (RFC 9113 §8.3.2). An empty response ends with its HEADERS frame
    // (END_STREAM), no DATA frame after it; it has no trailers either, only a chunked body does.
    if (empty) return stream.respond(responseHeaders(status, headers), respondEmpty);
    stream.respond(responseHeaders(status, headers), this.#acceptsTrailers ? respondWithTrailers : respondWithBody);
    // Asked for after the body ended, always once: the stream ends only when trailers (none, or the upstream's) were sent.
    if (this.#acceptsTrailers) stream.once('wantTrailers', this.#sendTrailers);
  }

  trailers(fields: readonly string[]): void {
    this.#trailers = fields;
  }

  fail(status: number, detail: string, retryAfter?: number): void {
    sendStatus(streamActionResponse(this.body, this.#method), status, detail, false, retryAfter === undefined ? undefined : { 'retry-after': String(retryAfter) });
  }

  abort(): void {
    resetStream(this.body);
  }

  readonly #sendTrailers = (): void => {
    try {
      this.body.sendTrailers(trailerHeaders(this.#trailers));
    } catch {
      // A trailer HTTP/2 cannot carry: the body went out whole, the stream ends without an END_STREAM the client could trust.
      resetStream(this.body);
    }
  };
}
