import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Route } from '../routing/route.js';
import type { ProxyContext } from './context.js';
import { addForwardedHeaders, type ForwardedFacts } from './forwarded-headers.js';
import { endToEndHeaders } from './hop-headers.js';
import { sendStatus } from './http-responses.js';
import { pickTarget } from './route-target.js';

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
  const options = {
    host: target.host,
    port: target.port,
    method: req.method,
    path: req.url,
    headers,
    setHost: false,
    agent: reencrypt ? ctx.agents.https : ctx.agents.http,
    ...(reencrypt ? { servername: facts.host === undefined ? undefined : stripPort(facts.host) } : {}),
  };
  const upstream = reencrypt ? httpsRequest(options) : httpRequest(options);

  let timedOut = false;
  upstream.setTimeout(ctx.timeouts.upstreamResponseMs, () => {
    timedOut = true;
    upstream.destroy(new Error('upstream timed out'));
  });
  upstream.on('error', (error) => {
    ctx.logger.warn({ route: route.name, target, err: error.message }, 'upstream request failed');
    if (!res.headersSent) sendStatus(res, timedOut ? 504 : 502, timedOut ? 'upstream timed out' : 'upstream unavailable');
    else res.destroy();
  });
  upstream.on('response', (upstreamRes) => {
    upstreamRes.on('error', () => res.destroy());
    const responseHeaders = endToEndHeaders(upstreamRes.rawHeaders);
    // A route removed by updateRoutes() serves this last response and closes the connection.
    if (route.state.retired) responseHeaders.push('Connection', 'close');
    res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, responseHeaders);
    upstreamRes.pipe(res);
  });
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.on('error', () => upstream.destroy());
  req.pipe(upstream);
}

function stripPort(host: string): string {
  const colon = host.lastIndexOf(':');
  return colon > 0 && !host.endsWith(']') ? host.slice(0, colon) : host;
}
