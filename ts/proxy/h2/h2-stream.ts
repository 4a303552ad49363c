/**
 * One HTTP/2 stream through the one HTTP pipeline: its header list becomes
 * a routable request (matchRequest: routes, Host rules, 421 for a name
 * another certificate serves, the header-count limit), admission counts it
 * as a request of its route, and the action runs through the same code the
 * HTTP/1.1 engines use: forwardRequest for `forward`, http-actions for the
 * proxy's own answers.
 */
import { constants, type ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Route } from '../../routing/route.js';
import type { ProxyContext } from '../context.js';
import type { ForwardedFacts } from '../forwarded-headers.js';
import { sendBlocked, sendMetrics, sendRedirect, sendStatic } from '../http-actions.js';
import { matchRequest, type RoutableRequest } from '../http-handler.js';
import { sendStatus } from '../http-responses.js';
import { admitRequest, finishRequest } from '../http/admission.js';
import { forwardRequest, type ForwardRequest } from '../http/forward.js';
import type { BodyFraming } from '../http/message-rules.js';
import { requestHead, type H2RequestHead } from './h2-headers.js';
import { StreamSink, streamActionResponse } from './h2-response.js';

/** What a stream needs of its session: the socket requests are counted on, and the upstream in-flight count. */
export interface StreamHost {
  readonly port: number;
  readonly socket: TLSSocket;
  /** Called when a forwarded request starts and when its upstream exchange is over (or aborted). */
  upstreamStarted(): void;
  upstreamFinished(): void;
}

/**
 * What the session calls when a stream it handed to serveStream closes:
 * the request's accounting, and the upstream exchange's teardown. One
 * object per admitted stream instead of a 'close' listener (and its once
 * wrapper) for each of them.
 */
export interface ServedStream {
  closed(): void;
}

/** Routes and answers one stream whose request head arrived; what to call on its 'close' when it was admitted. */
export function serveStream(ctx: ProxyContext, host: StreamHost, stream: ServerHttp2Stream, rawHeaders: readonly string[]): ServedStream | undefined {
  const head = requestHead(rawHeaders, ctx.http2.maxHeaderListBytes);
  if ('status' in head) {
    if (head.status === 431) ctx.limitReporter.hit('http2.maxHeaderListBytes', { port: host.port, max: ctx.http2.maxHeaderListBytes });
    return void sendStatus(streamActionResponse(stream, undefined), head.status, head.detail);
  }
  const request: RoutableRequest = { url: head.path, method: head.method, httpVersion: '2.0', headers: { host: head.authority }, rawHeaders: head.rawHeaders, socket: host.socket, logKey: stream };
  const matched = matchRequest(ctx, host.port, request);
  if ('status' in matched) return void sendStatus(streamActionResponse(stream, head.method), matched.status, matched.detail);
  const { route, facts, domain } = matched;
  // Internal routes with a handler of their own (the ACME HTTP-01 responder) live on plain HTTP ports only.
  if (route.requestHandler !== undefined) return void sendStatus(streamActionResponse(stream, head.method), 404, 'no route matches this host and path');
  const socket = host.socket;
  if (!admitRequest(ctx, route, socket)) return void sendStatus(streamActionResponse(stream, head.method), 503, 'route is at its connection limit');
  if (route.action.type === 'forward') return new ForwardedStream(ctx, host, route, stream, head, facts);
  const served = new AdmittedStream(ctx, route, host, stream);
  // The proxy's own answers: built only here, a forwarded stream never needs one.
  const res = streamActionResponse(stream, head.method);
  switch (route.action.type) {
    case 'redirect':
      sendRedirect(route, { url: request.url, method: head.method }, res, domain, host.port);
      break;
    case 'static':
      sendStatic(route, res);
      break;
    case 'metrics':
      sendMetrics(ctx, { url: request.url, method: head.method }, res);
      break;
    default:
      sendBlocked(res);
  }
  return served;
}

/** A stream admitted to its route: on close, the request's accounting (and its status for the access log). */
class AdmittedStream implements ServedStream {
  readonly #ctx: ProxyContext;
  readonly #route: Route;
  readonly #host: StreamHost;
  readonly #stream: ServerHttp2Stream;

  constructor(ctx: ProxyContext, route: Route, host: StreamHost, stream: ServerHttp2Stream) {
    this.#ctx = ctx;
    this.#route = route;
    this.#host = host;
    this.#stream = stream;
  }

  closed(): void {
    finishRequest(this.#ctx, this.#route, this.#host.port, this.#host.socket, answeredStatus(this.#ctx, this.#stream), this.#stream);
  }
}

/**
 * A stream forwarded to the route's HTTP/1.1 upstream. The body streams
 * both ways with back-pressure, so HTTP/2 flow control reaches the
 * upstream connection; a stream the client resets aborts its upstream
 * request at once, so cancelled streams never pile up upstream.
 */
class ForwardedStream implements ServedStream {
  readonly #admitted: AdmittedStream;
  readonly #host: StreamHost;
  readonly #stream: ServerHttp2Stream;
  readonly #abort: () => void;

  constructor(ctx: ProxyContext, host: StreamHost, route: Route, stream: ServerHttp2Stream, head: H2RequestHead, facts: ForwardedFacts) {
    this.#admitted = new AdmittedStream(ctx, route, host, stream);
    this.#host = host;
    this.#stream = stream;
    const hasBody = !stream.endAfterHeaders;
    // Without a Content-Length, HTTP/2 frames the body by END_STREAM; an HTTP/1.1 hop needs chunked for that.
    const framing: BodyFraming = head.contentLength ?? (hasBody ? 'chunked' : undefined);
    host.upstreamStarted();
    // The client is the session's TLS socket itself: `stream.session.socket` is Node's Proxy of it, which no
    // WeakMap keyed by the socket (PROXY addresses, the access log) would find.
    const request: ForwardRequest = { method: head.method, path: head.path, rawHeaders: head.rawHeaders, framing, body: hasBody ? stream : undefined, client: host.socket, logKey: stream };
    this.#abort = forwardRequest(ctx, route, facts, request, new StreamSink(stream, head.method, head.acceptsTrailers));
  }

  closed(): void {
    this.#admitted.closed();
    const stream = this.#stream;
    // Node ends the writable side of a reset stream itself, so writableFinished cannot tell a reset from a finished response.
    if (stream.aborted || stream.rstCode !== constants.NGHTTP2_NO_ERROR) this.#abort();
    this.#host.upstreamFinished();
  }
}

/** The status the stream was answered with, for the access log (read only when it is on); 0 when no head went out. */
function answeredStatus(ctx: ProxyContext, stream: ServerHttp2Stream): number {
  if (ctx.accessLog === undefined || !stream.headersSent) return 0;
  return Number(stream.sentHeaders[':status'] ?? 0);
}
