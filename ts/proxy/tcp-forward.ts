import { connect, type Socket } from 'node:net';
import type { Route } from '../routing/route.js';
import type { Upstream } from './balancer/upstream.js';
import { upstreamPort } from './balancer/upstream.js';
import { routeTimeout, type ProxyContext } from './context.js';
import { clientAddress, connectionEnds } from './proxy-protocol/client-address.js';
import { buildProxyHeader } from './proxy-protocol/header.js';
import { noteUpstream } from './access-log.js';
import { pipeSockets, readsInto } from './socket-pipe.js';

/**
 * Connects to one of the route's targets and pipes the client through,
 * replaying the bytes already read while peeking. A target that refuses or
 * does not accept in time is skipped and the next one tried (nothing was
 * sent yet, so it is always safe); when none is left the client is closed.
 */
export function forwardTcp(ctx: ProxyContext, route: Route, client: Socket, port: number, initial?: Buffer): void {
  attempt(ctx, route, client, port, initial, []);
}

function attempt(ctx: ProxyContext, route: Route, client: Socket, port: number, initial: Buffer | undefined, tried: Upstream[]): void {
  const balancer = route.state.balancer!;
  const target = balancer.select(clientAddress(client), tried);
  if (target === undefined) {
    ctx.logger.warn({ route: route.name, tried: tried.map((t) => t.key) }, 'no upstream target available; closing the connection');
    return void client.destroy();
  }
  // The upstream's bytes are written to the client straight from its own read buffer (no allocation per read).
  const upstream: Socket = connect({ host: target.host, port: upstreamPort(target, port), allowHalfOpen: true, noDelay: true, onread: readsInto(client, () => upstream) });
  const timer = setTimeout(() => upstream.destroy(new Error('upstream connect timeout')), routeTimeout(ctx, route, 'upstreamConnectMs'));
  const failBeforeConnect = (error: Error) => {
    clearTimeout(timer);
    client.off('close', abandon);
    if (client.destroyed) return;
    ctx.logger.warn({ route: route.name, target: target.key, err: error.message }, 'upstream connection failed; trying the next target');
    balancer.reportFailure(target, ctx.logger, route.name);
    tried.push(target);
    attempt(ctx, route, client, port, initial, tried);
  };
  upstream.once('error', failBeforeConnect);
  // A client that gives up while we connect takes the upstream attempt with it.
  const abandon = () => upstream.destroy();
  client.once('close', abandon);
  upstream.once('connect', () => {
    clearTimeout(timer);
    upstream.off('error', failBeforeConnect);
    client.off('close', abandon);
    if (client.destroyed) return void upstream.destroy();
    balancer.reportSuccess(target);
    balancer.acquire(target);
    upstream.once('close', () => balancer.release(target));
    if (ctx.accessLog !== undefined) noteUpstream(client, target.key);
    if (target.proxyProtocol !== undefined) upstream.write(buildProxyHeader(target.proxyProtocol, connectionEnds(client)));
    if (initial !== undefined && initial.length > 0) upstream.write(initial);
    // The listener accepts sockets that close as soon as the client's FIN
    // arrives; a piped connection must stay half-open instead, so a reply
    // the upstream sends after that FIN still reaches the client.
    client.allowHalfOpen = true;
    pipeSockets(client, upstream, true);
    client.resume();
  });
}
