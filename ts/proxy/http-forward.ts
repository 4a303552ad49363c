import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Route } from '../routing/route.js';
import { routeTimeout, type ProxyContext } from './context.js';
import type { ForwardedFacts } from './forwarded-headers.js';
import { clientResponseHeaders, isValidFinalStatus, isValidReason, responseTransferCoding, upstreamRequestHeaders, type BodyFraming } from './http/message-rules.js';
import { closesAfterResponse } from './http/admission.js';
import { failureStatus, isRetryable, isStaleConnectionError } from './http/upstream-failure.js';
import { sendStatus } from './http-responses.js';
import { pickTarget, upstreamRequestOptions } from './route-target.js';

/** What one forwarded request needs across a retry. */
interface Exchange {
  readonly ctx: ProxyContext;
  readonly route: Route;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly options: RequestOptions;
  readonly reencrypt: boolean;
  readonly hasBody: boolean;
  upstream: ClientRequest | undefined;
}

/**
 * Proxies one HTTP request to the route's target over a pooled keep-alive
 * connection, streaming both bodies with back-pressure (pipe). Failures
 * become 502 (or 504 on timeout) while nothing was sent yet, and a torn
 * connection afterwards; a client that goes away aborts the upstream request.
 */
export function forwardHttp(ctx: ProxyContext, route: Route, req: IncomingMessage, res: ServerResponse, facts: ForwardedFacts): void {
  const target = pickTarget(route, facts.port);
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
    options: upstreamRequestOptions(target, req, headers, facts.host, reencrypt ? route : undefined, reencrypt ? ctx.agents.https : ctx.agents.http),
    reencrypt,
    // A request has a body only when it says so (RFC 9112 §6.3).
    hasBody: transferEncoding !== undefined || (contentLength !== undefined && contentLength !== '0'),
    upstream: undefined,
  };
  res.on('close', () => {
    if (!res.writableFinished) exchange.upstream?.destroy();
  });
  req.on('error', () => exchange.upstream?.destroy());
  send(exchange, isRetryable(req.method ?? '', exchange.hasBody));
}

function send(exchange: Exchange, mayRetry: boolean): void {
  const { ctx, route, req, res, options } = exchange;
  const upstream = exchange.reencrypt ? httpsRequest(options) : httpRequest(options);
  exchange.upstream = upstream;

  let timedOut: 'connect-timeout' | 'response-timeout' | undefined;
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
    if (mayRetry && upstream.reusedSocket && timedOut === undefined && !res.headersSent && !res.destroyed && isStaleConnectionError(error)) {
      ctx.logger.debug({ route: route.name, err: error.message }, 'pooled upstream connection was closed; retrying');
      return send(exchange, false);
    }
    ctx.logger.warn({ route: route.name, target: `${options.host}:${options.port}`, err: error.message }, 'upstream request failed');
    if (res.headersSent) return void res.destroy();
    const { status, detail } = failureStatus(timedOut ?? 'refused');
    sendStatus(res, status, detail);
  });
  upstream.on('response', (upstreamRes) => {
    upstreamRes.on('error', () => res.destroy());
    const status = upstreamRes.statusCode ?? 0;
    const reason = upstreamRes.statusMessage ?? '';
    // Node's parser takes status codes and reasons that its writer refuses
    // with a throw: an upstream must never be able to end the process.
    if (!isValidFinalStatus(status) || !isValidReason(reason)) return refuseResponse(exchange, upstream, `invalid status line: ${status}`);
    // Node's parser takes chunked applied twice; the fast path refuses it, and so does this one.
    const te = upstreamRes.headers['transfer-encoding'];
    if (te !== undefined && responseTransferCoding(te) === 'invalid') return refuseResponse(exchange, upstream, `invalid Transfer-Encoding: ${te}`);
    const responseHeaders = clientResponseHeaders(upstreamRes.rawHeaders);
    // A route removed by updateRoutes() serves this last response and closes the connection.
    if (closesAfterResponse(route)) responseHeaders.push('Connection', 'close');
    try {
      res.writeHead(status, reason, responseHeaders);
    } catch (error) {
      return refuseResponse(exchange, upstream, (error as Error).message);
    }
    upstreamRes.pipe(res);
  });
  if (exchange.hasBody) req.pipe(upstream);
  else upstream.end();
}

/** An upstream response the proxy will not relay: the upstream connection is dropped and the client gets 502. */
function refuseResponse(exchange: Exchange, upstream: ClientRequest, why: string): void {
  exchange.ctx.logger.warn({ route: exchange.route.name, err: why }, 'upstream sent a response that cannot be relayed');
  exchange.upstream = undefined;
  upstream.destroy();
  const { status, detail } = failureStatus('invalid-response');
  sendStatus(exchange.res, status, detail);
}
