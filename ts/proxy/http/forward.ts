/**
 * Forwarding one HTTP request upstream, for every engine that hands the
 * pipeline a decoded request (Node's server for what the fast engine hands
 * over, HTTP/2 streams): the engine describes the request and gives a sink
 * for the answer; target choice, the upstream request policy, timeouts,
 * the stale-connection retry, response checks and error statuses are all
 * here. Bodies stream both ways with back-pressure.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { Route } from '../../routing/route.js';
import { routeTimeout, type ProxyContext } from '../context.js';
import type { ForwardedFacts } from '../forwarded-headers.js';
import { pickTarget, upstreamRequestOptions } from '../route-target.js';
import { closesAfterResponse } from './admission.js';
import { clientResponseHeaders, isValidFinalStatus, isValidReason, responseTransferCoding, upstreamRequestHeaders, type BodyFraming } from './message-rules.js';
import { failureStatus, isRetryable, isStaleConnectionError, type UpstreamFailure } from './upstream-failure.js';

/** A request as an engine hands it over: already routed, its head read, its body (if any) a decoded stream. */
export interface ForwardRequest {
  readonly method: string;
  /** Origin-form target, as sent upstream. */
  readonly path: string;
  /** The client's header fields, [name, value, …]; the pipeline's header rules are applied here. */
  readonly rawHeaders: readonly string[];
  /** How the body goes upstream: chunked, a Content-Length, or none. */
  readonly framing: BodyFraming;
  /** The decoded body; undefined when there is none. */
  readonly body: Readable | undefined;
}

/** The engine's side of the exchange: where the answer goes. */
export interface ResponseSink {
  /** Whether the response head went out (errors then cut the stream instead of answering). */
  readonly started: boolean;
  /**
   * Sends the head: `headers` went through the response rules already;
   * `close` asks the engine to end the client connection after this
   * response (a retired route). Throws when the engine cannot write it.
   */
  head(status: number, reason: string, headers: string[], close: boolean): void;
  /** Where the body is piped. */
  readonly body: Writable;
  /** The proxy's own answer while nothing was sent (502, 504). */
  fail(status: number, detail: string): void;
  /** Tears the client side down once the response had started. */
  abort(): void;
}

/** What one forwarded request needs across a retry. */
interface Exchange {
  readonly ctx: ProxyContext;
  readonly route: Route;
  readonly request: ForwardRequest;
  readonly sink: ResponseSink;
  readonly options: RequestOptions;
  readonly reencrypt: boolean;
  upstream: ClientRequest | undefined;
}

/**
 * Proxies one request to the route's target over a pooled keep-alive
 * connection. Failures become 502 (or 504 on timeout) while nothing was
 * sent yet, and a torn response afterwards. Returns the abort function the
 * engine calls when its client goes away.
 */
export function forwardRequest(ctx: ProxyContext, route: Route, facts: ForwardedFacts, request: ForwardRequest, sink: ResponseSink): () => void {
  const target = pickTarget(route, facts.port);
  const reencrypt = route.tlsMode === 'terminate-and-reencrypt';
  // The body's framing is never optional: without it Node would send a GET's
  // body raw after the head, and a body that is itself a request would
  // become a second, unrouted request on the pooled upstream connection
  // (request smuggling). Node re-chunks a chunked body and sends a
  // Content-Length body as is.
  const headers = upstreamRequestHeaders(request.rawHeaders, request.framing, facts, ctx.trustedProxies);
  const exchange: Exchange = {
    ctx,
    route,
    request,
    sink,
    options: upstreamRequestOptions(target, { method: request.method, url: request.path }, headers, facts.host, reencrypt ? route : undefined, reencrypt ? ctx.agents.https : ctx.agents.http),
    reencrypt,
    upstream: undefined,
  };
  request.body?.on('error', () => exchange.upstream?.destroy());
  const hasBody = request.framing === 'chunked' || (request.framing !== undefined && request.framing > 0);
  send(exchange, isRetryable(request.method, hasBody), hasBody);
  return () => exchange.upstream?.destroy();
}

function send(exchange: Exchange, mayRetry: boolean, hasBody: boolean): void {
  const { ctx, route, request, sink, options } = exchange;
  const upstream = exchange.reencrypt ? httpsRequest(options) : httpRequest(options);
  exchange.upstream = upstream;

  let timedOut: UpstreamFailure | undefined;
  // Node's agent has no connect timeout of its own; a black-holed upstream would otherwise wait for upstreamResponseMs.
  upstream.once('socket', (socket: Socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => {
      timedOut = 'connect-timeout';
      upstream.destroy(new Error('upstream connect timed out'));
    }, routeTimeout(ctx, route, 'upstreamConnectMs'));
    socket.once('connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
  });
  upstream.setTimeout(routeTimeout(ctx, route, 'upstreamResponseMs'), () => {
    timedOut ??= 'response-timeout';
    upstream.destroy(new Error('upstream timed out'));
  });
  upstream.on('error', (error: NodeJS.ErrnoException) => {
    if (exchange.upstream !== upstream) return;
    // An upstream may close an idle pooled connection just as we reuse it;
    // the request never reached it, so a bodiless idempotent one is sent
    // again once, on a fresh connection (as Node's docs advise for reusedSocket).
    if (mayRetry && upstream.reusedSocket && timedOut === undefined && !sink.started && isStaleConnectionError(error)) {
      ctx.logger.debug({ route: route.name, err: error.message }, 'pooled upstream connection was closed; retrying');
      return send(exchange, false, hasBody);
    }
    ctx.logger.warn({ route: route.name, target: `${options.host}:${options.port}`, err: error.message }, 'upstream request failed');
    if (sink.started) return sink.abort();
    const { status, detail } = failureStatus(timedOut ?? 'refused');
    sink.fail(status, detail);
  });
  upstream.on('response', (upstreamRes) => relayResponse(exchange, upstream, upstreamRes));
  if (hasBody && request.body !== undefined) request.body.pipe(upstream);
  else upstream.end();
}

function relayResponse(exchange: Exchange, upstream: ClientRequest, upstreamRes: IncomingMessage): void {
  const { sink } = exchange;
  upstreamRes.on('error', () => sink.abort());
  const status = upstreamRes.statusCode ?? 0;
  const reason = upstreamRes.statusMessage ?? '';
  // Node's parser takes status codes and reasons that its writer refuses
  // with a throw: an upstream must never be able to end the process.
  if (!isValidFinalStatus(status) || !isValidReason(reason)) return refuseResponse(exchange, upstream, `invalid status line: ${status}`);
  // Node's parser takes chunked applied twice; the fast engine refuses it, and so does this one.
  const te = upstreamRes.headers['transfer-encoding'];
  if (te !== undefined && responseTransferCoding(te) === 'invalid') return refuseResponse(exchange, upstream, `invalid Transfer-Encoding: ${te}`);
  try {
    sink.head(status, reason, clientResponseHeaders(upstreamRes.rawHeaders), closesAfterResponse(exchange.route));
  } catch (error) {
    return refuseResponse(exchange, upstream, (error as Error).message);
  }
  upstreamRes.pipe(sink.body);
}

/** An upstream response the proxy will not relay: the upstream connection is dropped and the client gets 502. */
function refuseResponse(exchange: Exchange, upstream: ClientRequest, why: string): void {
  exchange.ctx.logger.warn({ route: exchange.route.name, err: why }, 'upstream sent a response that cannot be relayed');
  exchange.upstream = undefined;
  upstream.destroy();
  const { status, detail } = failureStatus('invalid-response');
  exchange.sink.fail(status, detail);
}
