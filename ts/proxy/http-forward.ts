import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Route } from '../routing/route.js';
import { routeTimeout, type ProxyContext } from './context.js';
import { addForwardedHeaders, type ForwardedFacts } from './forwarded-headers.js';
import { endToEndHeaders } from './hop-headers.js';
import { sendStatus } from './http-responses.js';
import { pickTarget, upstreamRequestOptions } from './route-target.js';

/** Methods a request may be sent twice with (RFC 9110 §9.2.2), when it has no body to replay. */
const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

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
  const headers = addForwardedHeaders(endToEndHeaders(req.rawHeaders), facts, ctx.trustedProxies);
  // Transfer-Encoding is hop-by-hop, but the body's framing is not optional:
  // without it Node sends a GET's decoded body raw after the headers, and a
  // body that is itself a request becomes a second, unrouted request on the
  // pooled upstream connection (request smuggling). The codings are kept;
  // Node re-chunks the body because the value ends in chunked.
  const transferEncoding = req.headers['transfer-encoding'];
  if (transferEncoding !== undefined) headers.push('Transfer-Encoding', transferEncoding);
  const contentLength = req.headers['content-length'];
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
  send(exchange, !exchange.hasBody && idempotent.has(req.method ?? ''));
}

function send(exchange: Exchange, mayRetry: boolean): void {
  const { ctx, route, req, res, options } = exchange;
  const upstream = exchange.reencrypt ? httpsRequest(options) : httpRequest(options);
  exchange.upstream = upstream;

  let timedOut: 'connect' | 'response' | undefined;
  // Node's agent has no connect timeout of its own; a black-holed upstream would otherwise wait for upstreamResponseMs.
  upstream.once('socket', (socket: Socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => {
      timedOut = 'connect';
      upstream.destroy(new Error('upstream connect timed out'));
    }, routeTimeout(ctx, route, 'upstreamConnectMs'));
    socket.once('connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
  });
  upstream.setTimeout(routeTimeout(ctx, route, 'upstreamResponseMs'), () => {
    timedOut ??= 'response';
    upstream.destroy(new Error('upstream timed out'));
  });
  upstream.on('error', (error: NodeJS.ErrnoException) => {
    if (exchange.upstream !== upstream) return;
    // An upstream may close an idle pooled connection just as we reuse it;
    // the request never reached it, so a bodiless idempotent one is sent
    // again once, on a fresh connection (as Node's docs advise for reusedSocket).
    if (mayRetry && upstream.reusedSocket && timedOut === undefined && !res.headersSent && !res.destroyed && isConnectionReset(error)) {
      ctx.logger.debug({ route: route.name, err: error.message }, 'pooled upstream connection was closed; retrying');
      return send(exchange, false);
    }
    ctx.logger.warn({ route: route.name, target: `${options.host}:${options.port}`, err: error.message }, 'upstream request failed');
    if (res.headersSent) return void res.destroy();
    if (timedOut === undefined) sendStatus(res, 502, 'upstream unavailable');
    else sendStatus(res, 504, timedOut === 'connect' ? 'upstream did not accept the connection in time' : 'upstream timed out');
  });
  upstream.on('response', (upstreamRes) => {
    upstreamRes.on('error', () => res.destroy());
    const responseHeaders = endToEndHeaders(upstreamRes.rawHeaders);
    // A route removed by updateRoutes() serves this last response and closes the connection.
    if (route.state.retired) responseHeaders.push('Connection', 'close');
    res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, responseHeaders);
    upstreamRes.pipe(res);
  });
  if (exchange.hasBody) req.pipe(upstream);
  else upstream.end();
}

function isConnectionReset(error: NodeJS.ErrnoException): boolean {
  return error.code === 'ECONNRESET' || error.code === 'EPIPE';
}
