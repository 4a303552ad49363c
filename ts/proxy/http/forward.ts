/**
 * Forwarding one HTTP request upstream, for every engine that hands the
 * pipeline a decoded request (Node's server for what the fast engine hands
 * over, HTTP/2 streams): the engine describes the request and gives a sink
 * for the answer; target choice and failover, the upstream request policy,
 * timeouts, the stale-connection retry, response checks and error statuses
 * are all here. Bodies stream both ways with back-pressure.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { Route } from '../../routing/route.js';
import { routeTimeout, type ProxyContext } from '../context.js';
import type { ForwardedFacts } from '../forwarded-headers.js';
import { noteUpstream, noteUpstreamResponse } from '../access-log.js';
import type { Upstream } from '../balancer/upstream.js';
import { upstreamRequestOptions } from '../route-target.js';
import { closesAfterResponse } from './admission.js';
import { clientResponseHeaders, isValidFinalStatus, isValidReason, responseTransferCoding, upstreamRequestHeaders, type BodyFraming } from './message-rules.js';
import { exhaustedFailure, failureStatus, isRetryable, isStaleConnectionError, retryAfterSeconds, type UpstreamFailure } from './upstream-failure.js';

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
  /** The client's connection (an HTTP/2 session's socket): a PROXY header and the access log name it. */
  readonly client: Socket;
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
  /** The proxy's own answer while nothing was sent (502, 503, 504); `retryAfter` seconds when no target is left. */
  fail(status: number, detail: string, retryAfter?: number): void;
  /** Tears the client side down once the response had started. */
  abort(): void;
}

/** What one forwarded request needs across a retry or a failover to another target. */
interface Exchange {
  readonly ctx: ProxyContext;
  readonly route: Route;
  readonly facts: ForwardedFacts;
  readonly request: ForwardRequest;
  readonly sink: ResponseSink;
  readonly headers: string[];
  readonly reencrypt: boolean;
  readonly hasBody: boolean;
  upstream: ClientRequest | undefined;
  /** The target of the attempt in flight, and the ones this request failed on. */
  target: Upstream;
  readonly tried: Upstream[];
}

/**
 * Proxies one request to a target of the route over a pooled keep-alive
 * connection. A target that does not take the connection is skipped for
 * the next one (nothing was sent, so for any method); failures become 502
 * (503 when no target is left, 504 on timeout) while nothing was sent yet,
 * and a torn response afterwards. Returns the abort function the engine
 * calls when its client goes away.
 */
export function forwardRequest(ctx: ProxyContext, route: Route, facts: ForwardedFacts, request: ForwardRequest, sink: ResponseSink): () => void {
  const target = route.state.balancer!.select(facts.clientIp);
  if (target === undefined) {
    fail(sink, 'no-target');
    return noop;
  }
  // The body's framing is never optional: without it Node would send a GET's
  // body raw after the head, and a body that is itself a request would
  // become a second, unrouted request on the pooled upstream connection
  // (request smuggling). Node re-chunks a chunked body and sends a
  // Content-Length body as is.
  const hasBody = request.framing === 'chunked' || (request.framing !== undefined && request.framing > 0);
  const exchange: Exchange = {
    ctx,
    route,
    facts,
    request,
    sink,
    headers: upstreamRequestHeaders(request.rawHeaders, request.framing, facts, ctx.trustedProxies),
    reencrypt: route.tlsMode === 'terminate-and-reencrypt',
    hasBody,
    upstream: undefined,
    target,
    tried: [],
  };
  request.body?.on('error', () => exchange.upstream?.destroy());
  send(exchange, isRetryable(request.method, hasBody));
  return () => exchange.upstream?.destroy();
}

function send(exchange: Exchange, mayRetry: boolean): void {
  const { ctx, route, request, sink, target } = exchange;
  const agent = exchange.reencrypt ? ctx.agents.https : ctx.agents.http;
  const options = upstreamRequestOptions(target, exchange.facts.port, { method: request.method, url: request.path, socket: request.client }, exchange.headers, exchange.facts.host, exchange.reencrypt ? route : undefined, agent);
  const upstream = exchange.reencrypt ? httpsRequest(options) : httpRequest(options);
  exchange.upstream = upstream;
  if (ctx.accessLog !== undefined) noteUpstream(request.client, target.key);
  const balancer = route.state.balancer!;
  balancer.acquire(target);
  upstream.once('close', () => balancer.release(target));

  let timedOut: 'connect-timeout' | 'response-timeout' | undefined;
  // Until the connection is up nothing was sent: a failure then may go to another target, whatever the method.
  let connected = false;
  const onConnected = () => {
    connected = true;
    // The body is read only once a connection took it, so a failover has all of it to send.
    if (exchange.hasBody && exchange.upstream === upstream && request.body !== undefined) request.body.pipe(upstream);
  };
  // Node's agent has no connect timeout of its own; a black-holed upstream would otherwise wait for upstreamResponseMs.
  upstream.once('socket', (socket: Socket) => {
    if (!socket.connecting) return onConnected();
    const timer = setTimeout(() => {
      timedOut = 'connect-timeout';
      upstream.destroy(new Error('upstream connect timed out'));
    }, routeTimeout(ctx, route, 'upstreamConnectMs'));
    socket.once('connect', () => {
      clearTimeout(timer);
      onConnected();
    });
    socket.once('close', () => clearTimeout(timer));
  });
  upstream.setTimeout(routeTimeout(ctx, route, 'upstreamResponseMs'), () => {
    timedOut ??= 'response-timeout';
    upstream.destroy(new Error('upstream timed out'));
  });
  upstream.on('error', (error: NodeJS.ErrnoException) => {
    if (exchange.upstream !== upstream) return;
    if (sink.started) return sink.abort();
    if (!connected && timedOut !== 'response-timeout') return failover(exchange, mayRetry, timedOut ?? 'refused', error);
    if (mayRetry && timedOut === undefined && isStaleConnectionError(error)) {
      // A pooled connection the upstream closed just as we reused it never saw the request: the same target, afresh.
      // A fresh connection that reset before any response byte: an idempotent request goes to another target, once.
      if (upstream.reusedSocket) {
        ctx.logger.debug({ route: route.name, err: error.message }, 'pooled upstream connection was closed; retrying');
        return send(exchange, false);
      }
      balancer.reportFailure(target, ctx.logger, route.name);
      exchange.tried.push(target);
      const next = balancer.select(exchange.facts.clientIp, exchange.tried);
      if (next !== undefined) {
        ctx.logger.debug({ route: route.name, target: target.key, next: next.key }, 'upstream reset before answering; retrying on another target');
        exchange.target = next;
        return send(exchange, false);
      }
    }
    ctx.logger.warn({ route: route.name, target: target.key, err: error.message }, 'upstream request failed');
    fail(sink, timedOut ?? 'refused');
  });
  upstream.on('response', (upstreamRes) => relayResponse(exchange, upstream, upstreamRes));
  if (!exchange.hasBody) upstream.end();
}

/** The target did not take the connection: nothing was sent, so the next target gets the request, whatever its method. */
function failover(exchange: Exchange, mayRetry: boolean, failure: UpstreamFailure, error: Error): void {
  const { ctx, route, target } = exchange;
  const balancer = route.state.balancer!;
  balancer.reportFailure(target, ctx.logger, route.name);
  exchange.tried.push(target);
  const next = balancer.select(exchange.facts.clientIp, exchange.tried);
  ctx.logger.warn({ route: route.name, target: target.key, next: next?.key, err: error.message }, 'upstream connection failed');
  if (next === undefined) return fail(exchange.sink, exhaustedFailure(failure, balancer.targets.length));
  exchange.target = next;
  send(exchange, mayRetry);
}

function relayResponse(exchange: Exchange, upstream: ClientRequest, upstreamRes: IncomingMessage): void {
  const { ctx, sink } = exchange;
  if (ctx.accessLog !== undefined) noteUpstreamResponse(exchange.request.client);
  exchange.route.state.balancer!.reportSuccess(exchange.target);
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
    sink.head(status, reason, clientResponseHeaders(upstreamRes.rawHeaders, exchange.facts), closesAfterResponse(exchange.route));
  } catch (error) {
    return refuseResponse(exchange, upstream, (error as Error).message);
  }
  upstreamRes.pipe(sink.body);
}

/** The proxy's own answer to a failed exchange; a 503 for a route with no target left says when to come back. */
function fail(sink: ResponseSink, failure: UpstreamFailure): void {
  const { status, detail } = failureStatus(failure);
  sink.fail(status, detail, failure === 'no-target' ? retryAfterSeconds : undefined);
}

/** An upstream response the proxy will not relay: the upstream connection is dropped and the client gets 502. */
function refuseResponse(exchange: Exchange, upstream: ClientRequest, why: string): void {
  exchange.ctx.logger.warn({ route: exchange.route.name, err: why }, 'upstream sent a response that cannot be relayed');
  exchange.upstream = undefined;
  upstream.destroy();
  fail(exchange.sink, 'invalid-response');
}

function noop(): void {}
