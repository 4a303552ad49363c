import { request as httpRequest, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Route } from '../routing/route.js';
import { routeTimeout, type ProxyContext } from './context.js';
import type { ForwardedFacts } from './forwarded-headers.js';
import { clientResponseHeaders, isValidFinalStatus, isValidReason, responseTransferCoding, upstreamRequestHeaders, type BodyFraming } from './http/message-rules.js';
import { closesAfterResponse } from './http/admission.js';
import { exhaustedFailure, failureStatus, isRetryable, isStaleConnectionError, retryAfterSeconds, type UpstreamFailure } from './http/upstream-failure.js';
import { sendStatus } from './http-responses.js';
import { upstreamRequestOptions } from './route-target.js';
import type { Upstream } from './balancer/upstream.js';
import { noteUpstream, noteUpstreamResponse } from './access-log.js';

/** What one forwarded request needs across a retry or a failover to another target. */
interface Exchange {
  readonly ctx: ProxyContext;
  readonly route: Route;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly facts: ForwardedFacts;
  readonly headers: string[];
  readonly reencrypt: boolean;
  readonly hasBody: boolean;
  upstream: ClientRequest | undefined;
  /** The target of the attempt in flight, and the ones this request failed on. */
  target: Upstream;
  readonly tried: Upstream[];
}

/**
 * Proxies one HTTP request to the route's target over a pooled keep-alive
 * connection, streaming both bodies with back-pressure (pipe). Failures
 * become 502 (or 504 on timeout) while nothing was sent yet, and a torn
 * connection afterwards; a client that goes away aborts the upstream request.
 */
export function forwardHttp(ctx: ProxyContext, route: Route, req: IncomingMessage, res: ServerResponse, facts: ForwardedFacts): void {
  const target = route.state.balancer!.select(facts.clientIp);
  if (target === undefined) return sendFailure(res, 'no-target');
  const reencrypt = route.tlsMode === 'terminate-and-reencrypt';
  // The body's framing is never optional: without it Node sends a GET's
  // decoded body raw after the headers, and a body that is itself a request
  // becomes a second, unrouted request on the pooled upstream connection
  // (request smuggling). Node re-chunks a chunked body (the handler allowed
  // only a single `chunked` coding) and sends a Content-Length body as is.
  const transferEncoding = req.headers['transfer-encoding'];
  const contentLength = req.headers['content-length'];
  const framing: BodyFraming = transferEncoding !== undefined ? 'chunked' : contentLength !== undefined ? Number(contentLength) : undefined;
  const headers = upstreamRequestHeaders(req.rawHeaders, framing, facts, ctx.trustedProxies);
  const exchange: Exchange = {
    ctx,
    route,
    req,
    res,
    facts,
    headers,
    reencrypt,
    // A request has a body only when it says so (RFC 9112 §6.3).
    hasBody: transferEncoding !== undefined || (contentLength !== undefined && contentLength !== '0'),
    upstream: undefined,
    target,
    tried: [],
  };
  res.on('close', () => {
    if (!res.writableFinished) exchange.upstream?.destroy();
  });
  req.on('error', () => exchange.upstream?.destroy());
  send(exchange, isRetryable(req.method ?? '', exchange.hasBody));
}

function send(exchange: Exchange, mayRetry: boolean): void {
  const { ctx, route, req, res, target } = exchange;
  const agent = exchange.reencrypt ? ctx.agents.https : ctx.agents.http;
  const options = upstreamRequestOptions(target, exchange.facts.port, req, exchange.headers, exchange.facts.host, exchange.reencrypt ? route : undefined, agent);
  const upstream = exchange.reencrypt ? httpsRequest(options) : httpRequest(options);
  exchange.upstream = upstream;
  if (ctx.accessLog !== undefined) noteUpstream(req.socket, target.key);
  const balancer = route.state.balancer!;
  balancer.acquire(target);
  upstream.once('close', () => balancer.release(target));

  let timedOut: 'connect-timeout' | 'response-timeout' | undefined;
  // Until the connection is up nothing was sent: a failure then may go to another target, whatever the method.
  let connected = false;
  const onConnected = () => {
    connected = true;
    // The body is read only once a connection took it, so a failover has all of it to send.
    if (exchange.hasBody && exchange.upstream === upstream) req.pipe(upstream);
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
    if (res.headersSent || res.destroyed) return void res.destroy();
    // ---- balancer: failover (see balancer/balancer.ts) ----
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
    sendFailure(res, timedOut ?? 'refused');
  });
  upstream.on('response', (upstreamRes) => {
    if (ctx.accessLog !== undefined) noteUpstreamResponse(req.socket);
    balancer.reportSuccess(target);
    upstreamRes.on('error', () => res.destroy());
    const status = upstreamRes.statusCode ?? 0;
    const reason = upstreamRes.statusMessage ?? '';
    // Node's parser takes status codes and reasons that its writer refuses
    // with a throw: an upstream must never be able to end the process.
    if (!isValidFinalStatus(status) || !isValidReason(reason)) return refuseResponse(exchange, upstream, `invalid status line: ${status}`);
    // Node's parser takes chunked applied twice; the fast path refuses it, and so does this one.
    const te = upstreamRes.headers['transfer-encoding'];
    if (te !== undefined && responseTransferCoding(te) === 'invalid') return refuseResponse(exchange, upstream, `invalid Transfer-Encoding: ${te}`);
    const responseHeaders = clientResponseHeaders(upstreamRes.rawHeaders, exchange.facts);
    // A route removed by updateRoutes() serves this last response and closes the connection.
    if (closesAfterResponse(route)) responseHeaders.push('Connection', 'close');
    try {
      res.writeHead(status, reason, responseHeaders);
    } catch (error) {
      return refuseResponse(exchange, upstream, (error as Error).message);
    }
    upstreamRes.pipe(res);
  });
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
  if (next === undefined) return sendFailure(exchange.res, exhaustedFailure(failure, balancer.targets.length));
  exchange.target = next;
  send(exchange, mayRetry);
}

/** The proxy's own answer to a failed exchange; a 503 for a route with no target left says when to come back. */
function sendFailure(res: ServerResponse, failure: UpstreamFailure): void {
  const { status, detail } = failureStatus(failure);
  if (failure === 'no-target' && !res.headersSent) res.setHeader('Retry-After', String(retryAfterSeconds));
  sendStatus(res, status, detail);
}

/** An upstream response the proxy will not relay: the upstream connection is dropped and the client gets 502. */
function refuseResponse(exchange: Exchange, upstream: ClientRequest, why: string): void {
  exchange.ctx.logger.warn({ route: exchange.route.name, err: why }, 'upstream sent a response that cannot be relayed');
  exchange.upstream = undefined;
  upstream.destroy();
  sendFailure(exchange.res, 'invalid-response');
}
