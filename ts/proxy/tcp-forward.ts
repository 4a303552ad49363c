import { connect, type Socket } from 'node:net';
import type { Route } from '../routing/route.js';
import { routeTimeout, type ProxyContext } from './context.js';
import { pickTarget } from './route-target.js';
import { pipeSockets } from './socket-pipe.js';

/**
 * Connects to the route's target and pipes the client through, replaying
 * the bytes already read while peeking. The upstream gets its error handler
 * before it can fail; a refused or timed-out connect closes the client.
 */
export function forwardTcp(ctx: ProxyContext, route: Route, client: Socket, port: number, initial?: Buffer): void {
  const target = pickTarget(route, port);
  const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
  const timer = setTimeout(() => upstream.destroy(new Error('upstream connect timeout')), routeTimeout(ctx, route, 'upstreamConnectMs'));
  const failBeforeConnect = (error: Error) => {
    clearTimeout(timer);
    ctx.logger.warn({ route: route.name, target, err: error.message }, 'upstream connection failed');
    client.destroy();
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
    if (initial !== undefined && initial.length > 0) upstream.write(initial);
    // The listener accepts sockets that close as soon as the client's FIN
    // arrives; a piped connection must stay half-open instead, so a reply
    // the upstream sends after that FIN still reaches the client.
    client.allowHalfOpen = true;
    pipeSockets(client, upstream);
    client.resume();
  });
}
