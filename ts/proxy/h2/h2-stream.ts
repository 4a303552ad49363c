import type { Socket } from 'node:net';
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
import { forwardRequest } from '../http/forward.js';
import type { BodyFraming } from '../http/message-rules.js';
import { requestHead, type H2RequestHead } from './h2-headers.js';
import { streamActionResponse, streamSink } from './h2-response.js';

/** What a stream needs of its session: the socket requests are counted on, and the upstream in-flight count. */
export interface StreamHost {
  readonly port: number;
  readonly socket: TLSSocket;
  /** Called when a forwarded request starts and when its upstream exchange is over (or aborted). */
  upstreamStarted(): void;
  upstreamFinished(): void;
}

/** Routes and answers one stream whose request head arrived. */
export function serveStream(ctx: ProxyContext, host: StreamHost, stream: ServerHttp2Stream, rawHeaders: readonly string[]): void {
  const head = requestHead(rawHeaders, ctx.http2.maxHeaderListBytes);
  if ('status' in head) {
    if (head.status === 431) ctx.limitReporter.hit('http2.maxHeaderListBytes', { port: host.port, max: ctx.http2.maxHeaderListBytes });
    return sendStatus(streamActionResponse(stream, undefined), head.status, head.detail);
  }
  const res = streamActionResponse(stream, head.method);
  const request: RoutableRequest = { url: head.path, httpVersion: '2.0', headers: { host: head.authority }, rawHeaders: head.rawHeaders, socket: host.socket };
  const matched = matchRequest(ctx, host.port, request);
  if ('status' in matched) return sendStatus(res, matched.status, matched.detail);
  const { route, facts, domain } = matched;
  // Internal routes with a handler of their own (the ACME HTTP-01 responder) live on plain HTTP ports only.
  if (route.requestHandler !== undefined) return sendStatus(res, 404, 'no route matches this host and path');
  const socket = host.socket;
  if (!admitRequest(ctx, route, socket)) return sendStatus(res, 503, 'route is at its connection limit');
  stream.once('close', () => finishRequest(ctx, route, host.port, socket));
  switch (route.action.type) {
    case 'forward':
      return forwardStream(ctx, host, route, stream, head, facts);
    case 'redirect':
      return sendRedirect(route, { url: request.url, method: head.method }, res, domain, host.port);
    case 'static':
      return sendStatic(route, res);
    case 'metrics':
      return sendMetrics(ctx, { url: request.url, method: head.method }, res);
    default:
      return sendBlocked(res);
  }
}

/**
 * Forwards the stream to the route's HTTP/1.1 upstream. The body streams
 * both ways with back-pressure, so HTTP/2 flow control reaches the
 * upstream connection; a stream the client resets aborts its upstream
 * request at once, so cancelled streams never pile up upstream.
 */
function forwardStream(ctx: ProxyContext, host: StreamHost, route: Route, stream: ServerHttp2Stream, head: H2RequestHead, facts: ForwardedFacts): void {
  const hasBody = !stream.endAfterHeaders;
  // Without a Content-Length, HTTP/2 frames the body by END_STREAM; an HTTP/1.1 hop needs chunked for that.
  const framing: BodyFraming = head.contentLength ?? (hasBody ? 'chunked' : undefined);
  host.upstreamStarted();
  const abort = forwardRequest(ctx, route, facts, { method: head.method, path: head.path, rawHeaders: head.rawHeaders, framing, body: hasBody ? stream : undefined, client: stream.session!.socket as Socket }, streamSink(stream, head.method, head.acceptsTrailers));
  stream.once('close', () => {
    // Node ends the writable side of a reset stream itself, so writableFinished cannot tell a reset from a finished response.
    if (stream.aborted || stream.rstCode !== constants.NGHTTP2_NO_ERROR) abort();
    host.upstreamFinished();
  });
}
