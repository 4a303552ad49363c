import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { isValidHost, normaliseHostname } from '../routing/domain-matcher.js';
import { isClientAllowed, type Route } from '../routing/route.js';
import type { ProxyContext } from './context.js';
import type { ForwardedFacts } from './forwarded-headers.js';
import { sendBlocked, sendMetrics, sendRedirect, sendStatic } from './http-actions.js';
import { forwardHttp } from './http-forward.js';
import { admitRequest, finishRequest, releaseRequest } from './http/admission.js';
import { requestTransferCoding } from './http/message-rules.js';
import { readRequestTarget } from './request-target.js';
import { sendStatus, writeRawStatus } from './http-responses.js';
import { forwardUpgrade } from './websocket.js';
import { beginRequest } from './access-log.js';
import { headerRulesOf } from './http/header-rules.js';
import { clientAddress } from './proxy-protocol/client-address.js';

/** The route a terminated TLS connection was accepted for (chosen by SNI), kept for the 421 check. */
const sniRoutes = new WeakMap<Socket, { route: Route; serverName: string | undefined }>();

export function rememberSniRoute(socket: TLSSocket, route: Route, serverName: string | undefined): void {
  sniRoutes.set(socket, { route, serverName });
}

export type Matched = { route: Route; facts: ForwardedFacts; domain: string } | { status: number; detail: string };

/** What routing reads of a request: an IncomingMessage, or the fast path's own parsed head. */
export interface RoutableRequest {
  url?: string | undefined;
  /** The request method, for the access log. */
  readonly method?: string | undefined;
  /** '1.0' or '1.1' ('2.0' for an HTTP/2 stream); the fast path serves only 1.1. */
  readonly httpVersion: string;
  readonly headers: { readonly host?: string | undefined };
  readonly rawHeaders: readonly string[];
  readonly socket: Socket;
  /** What the access log keys this request's record by: an HTTP/2 stream (its requests share the socket); the socket otherwise. */
  readonly logKey?: object;
}

/**
 * Picks the route for one request by Host and path. Every request on a
 * keep-alive connection is matched afresh against the current table, so
 * two requests on one connection may go to different routes, and a route
 * update applies from the next request on.
 */
export function matchRequest(ctx: ProxyContext, port: number, req: RoutableRequest): Matched {
  const matched = routeRequest(ctx, port, req);
  // Every refusal of the router is the proxy's own answer, whichever engine writes it.
  if ('status' in matched) ctx.metrics.answered(port, matched.status);
  return matched;
}

function routeRequest(ctx: ProxyContext, port: number, req: RoutableRequest): Matched {
  const socket = req.socket;
  const secure = (socket as TLSSocket).encrypted === true;
  const portTable = ctx.routes.table.ports.get(port);
  const index = secure ? portTable?.tls : portTable?.http;
  // Node keeps a few more than the limit so that a request over it is seen, not silently cut short.
  if (req.rawHeaders.length > 2 * ctx.limits.maxHeaderCount) {
    ctx.limitReporter.hit('maxHeaderCount', { port, max: ctx.limits.maxHeaderCount });
    return { status: 431, detail: `more than ${ctx.limits.maxHeaderCount} header fields` };
  }
  const target = readRequestTarget(req.url ?? '/');
  if (target === undefined) return { status: 400, detail: 'the request target is not a path or an http(s) URL' };
  // Node keeps the first of several Host headers but rawHeaders, which go upstream, keep them all:
  // an upstream reading another one than we routed by would serve the wrong site (RFC 9112 §3.2: 400).
  if (hostHeaderCount(req.rawHeaders) > 1) return { status: 400, detail: 'more than one Host header' };
  let rawHost = req.headers.host;
  if (target.authority !== undefined) {
    // RFC 9112 §3.2.2: the authority of an absolute-form target is the host; a Host naming another is ambiguous.
    if (rawHost !== undefined && normaliseHostname(rawHost) !== normaliseHostname(target.authority)) {
      return { status: 400, detail: 'the request target names a different host than the Host header' };
    }
    // HTTP/1.0 had no Host: its absolute-form authority is the host, and goes upstream as Host.
    if (rawHost === undefined && req.httpVersion === '1.0') rawHost = target.authority;
    req.url = target.originForm;
  }
  // RFC 9112 §3.2: an HTTP/1.1 request without Host is refused; the next hop must never get one without it.
  if (rawHost === undefined) return { status: 400, detail: 'the request has no Host header' };
  if (rawHost !== undefined && !isValidHost(rawHost)) return { status: 400, detail: 'the Host is not a host name' };
  const domain = normaliseHostname(rawHost);
  const clientIp = clientAddress(socket);
  const route = index?.match(domain, target.path, clientIp);
  if (route === undefined) return { status: 404, detail: 'no route matches this host and path' };
  if (secure) {
    const accepted = sniRoutes.get(socket);
    if (route.tlsMode === 'passthrough' || (accepted !== undefined && !sameTlsIdentity(accepted, route, domain))) {
      return { status: 421, detail: 'this connection was made for a different host; open a new one' };
    }
  }
  if (!isClientAllowed(route, clientIp)) return { status: 403, detail: 'your address is not allowed' };
  const proto = secure ? 'https' : 'http';
  const facts = { clientIp, proto, host: rawHost, port, route: route.name, domain, path: target.path, headerRules: headerRulesOf(route.config) };
  if (ctx.accessLog !== undefined) beginRequest(req.logKey ?? socket, req.method ?? '', rawHost, target.path, req.httpVersion === '2.0' ? 'h2' : proto);
  return { route, facts, domain: domain ?? '' };
}

/**
 * Transfer codings Node's parser accepts but the proxy does not relay: the
 * fast path hands these over and both engines answer them here, the same way
 * (anything but a single `chunked`: 400 when the body's end is ambiguous,
 * 501 for a coding the proxy would have to decode).
 */
function framingRefusal(req: IncomingMessage): { status: number; detail: string } | undefined {
  const te = req.headers['transfer-encoding'];
  if (te === undefined) return undefined;
  const coding = requestTransferCoding(te);
  if (coding === 400) return { status: 400, detail: 'Transfer-Encoding must end in a single chunked' };
  if (coding === 501) return { status: 501, detail: 'only the chunked transfer coding is supported' };
  return undefined;
}

/** Answers a request the proxy refuses itself, counted per port and status. */
function refuse(ctx: ProxyContext, port: number, status: number, answer: () => void): void {
  ctx.metrics.answered(port, status);
  answer();
}

function hostHeaderCount(raw: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') count++;
  }
  return count;
}

/** A Host naming another route is only served on this connection if that route would present the same certificate. */
function sameTlsIdentity(accepted: { route: Route; serverName: string | undefined }, route: Route, domain: string | undefined): boolean {
  if (route === accepted.route || domain === accepted.serverName) return true;
  const a = accepted.route.action.tls;
  const b = route.action.tls;
  if (a === undefined || b === undefined || a.mode !== b.mode) return false;
  const ca = a.certificate;
  const cb = b.certificate;
  return typeof ca === 'object' && typeof cb === 'object' && ca.cert === cb.cert;
}

export function handleRequest(ctx: ProxyContext, port: number, req: IncomingMessage, res: ServerResponse): void {
  const refusal = framingRefusal(req);
  if (refusal !== undefined) return refuse(ctx, port, refusal.status, () => sendStatus(res, refusal.status, refusal.detail, true));
  const matched = matchRequest(ctx, port, req);
  if ('status' in matched) return sendStatus(res, matched.status, matched.detail);
  const { route, facts, domain } = matched;
  if (route.requestHandler !== undefined) return route.requestHandler(req, res);
  const socket = req.socket;
  if (!admitRequest(ctx, route, socket)) return refuse(ctx, port, 503, () => sendStatus(res, 503, 'route is at its connection limit'));
  // The status the client got, for the access log: 0 when it went away before the answer began.
  res.once('close', () => finishRequest(ctx, route, port, socket, res.headersSent ? res.statusCode : 0));
  switch (route.action.type) {
    case 'forward':
      return forwardHttp(ctx, route, req, res, facts);
    case 'redirect':
      return sendRedirect(route, req, res, domain, port);
    case 'static':
      return sendStatic(route, res);
    case 'metrics':
      return sendMetrics(ctx, req, res);
    default:
      return sendBlocked(res);
  }
}

export function handleUpgrade(ctx: ProxyContext, port: number, req: IncomingMessage, socket: Socket, head: Buffer): void {
  socket.on('error', () => socket.destroy());
  const refusal = framingRefusal(req);
  // A handshake has no body (RFC 6455 §4.1); one that says it has would leave body bytes between two protocols.
  const length = req.headers['content-length'];
  if (refusal !== undefined || (length !== undefined && length !== '0')) return refuse(ctx, port, refusal?.status ?? 400, () => writeRawStatus(socket, refusal?.status ?? 400));
  const matched = matchRequest(ctx, port, req);
  if ('status' in matched) return writeRawStatus(socket, matched.status);
  const { route, facts } = matched;
  if (route.action.type !== 'forward') return writeRawStatus(socket, route.action.type === 'block' ? 403 : 400);
  if (!admitRequest(ctx, route, socket)) return refuse(ctx, port, 503, () => writeRawStatus(socket, 503));
  // An upgraded connection is a request, counted now, that holds its route's slot (and counts its bytes there) until it closes.
  ctx.metrics.request(route.name, port);
  socket.once('close', () => releaseRequest(ctx, route, socket));
  forwardUpgrade(ctx, route, req, socket, head, facts);
}
