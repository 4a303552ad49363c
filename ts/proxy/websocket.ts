import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Route } from '../routing/route.js';
import { routeTimeout, type ProxyContext } from './context.js';
import type { ForwardedFacts } from './forwarded-headers.js';
import { endToEndHeaders } from './hop-headers.js';
import { headText } from './http/head-text.js';
import { isValidFinalStatus, isValidReason, upstreamRequestHeaders } from './http/message-rules.js';
import { failureStatus, type UpstreamFailure } from './http/upstream-failure.js';
import { writeRawStatus } from './http-responses.js';
import { upstreamRequestOptions } from './route-target.js';
import { pipeSockets } from './socket-pipe.js';

/**
 * Proxies an Upgrade request (WebSocket or any other protocol switch): the
 * handshake goes upstream with its Upgrade header and every subprotocol
 * header intact; on 101 both sockets are piped raw, otherwise the upstream's
 * refusal is relayed to the client.
 */
export function forwardUpgrade(ctx: ProxyContext, route: Route, req: IncomingMessage, client: Socket, head: Buffer, facts: ForwardedFacts): void {
  // ---- balancer: an upgrade takes one target, held while the tunnel is open ----
  const balancer = route.state.balancer!;
  const target = balancer.select(facts.clientIp);
  if (target === undefined) return writeRawStatus(client, failureStatus('no-target').status);
  balancer.acquire(target);
  client.once('close', () => balancer.release(target));
  const reencrypt = route.tlsMode === 'terminate-and-reencrypt';
  // The handler refused handshakes with a body, so none is framed.
  const headers = upstreamRequestHeaders(req.rawHeaders, undefined, facts, ctx.trustedProxies);
  headers.push('Connection', 'Upgrade', 'Upgrade', String(req.headers.upgrade));
  const options = upstreamRequestOptions(target, facts.port, req, headers, facts.host, reencrypt ? route : undefined);
  const upstream = reencrypt ? httpsRequest(options) : httpRequest(options);
  let failure: UpstreamFailure = 'refused';
  const fail = (why: UpstreamFailure) => () => {
    failure = why;
    upstream.destroy(new Error(why));
  };
  // Connecting and answering are bounded separately, as for any request: a black-holed upstream gets 504 at upstreamConnectMs.
  let timer = setTimeout(fail('connect-timeout'), routeTimeout(ctx, route, 'upstreamConnectMs'));
  upstream.once('socket', (socket: Socket) => {
    const answering = () => {
      clearTimeout(timer);
      timer = setTimeout(fail('response-timeout'), routeTimeout(ctx, route, 'upstreamResponseMs'));
    };
    if (socket.connecting) socket.once('connect', answering);
    else answering();
  });
  const abandon = () => upstream.destroy();
  client.once('close', abandon);

  upstream.on('error', (error) => {
    clearTimeout(timer);
    ctx.logger.warn({ route: route.name, target: target.key, err: error.message }, 'upstream upgrade failed');
    if (failure !== 'response-timeout') balancer.reportFailure(target, ctx.logger, route.name);
    if (!client.destroyed) writeRawStatus(client, failureStatus(failure).status);
  });
  upstream.on('upgrade', (upstreamRes, upstreamSocket, upstreamHead) => {
    clearTimeout(timer);
    client.off('close', abandon);
    upstreamSocket.on('error', () => client.destroy());
    if (client.destroyed || !isValidReason(upstreamRes.statusMessage ?? '')) {
      upstreamSocket.destroy();
      return void writeRawStatus(client, failureStatus('invalid-response').status);
    }
    client.write(responseHead(upstreamRes, endToEndHeaders(upstreamRes.rawHeaders, upgradeHeaders)));
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (head.length > 0) upstreamSocket.write(head);
    pipeSockets(client, upstreamSocket);
    // Idle in both directions: any byte either way resets the client socket's timer, since both pass through it.
    client.setTimeout(routeTimeout(ctx, route, 'websocketIdleMs'), () => {
      ctx.limitReporter.hit('timeouts.websocketIdleMs', { route: route.name });
      client.destroy();
    });
  });
  upstream.on('response', (upstreamRes) => {
    // The upstream declined to switch protocols: relay its answer and close.
    clearTimeout(timer);
    const status = upstreamRes.statusCode ?? 0;
    if (!isValidFinalStatus(status) || !isValidReason(upstreamRes.statusMessage ?? '')) {
      upstream.destroy();
      return void writeRawStatus(client, failureStatus('invalid-response').status);
    }
    client.write(responseHead(upstreamRes, [...endToEndHeaders(upstreamRes.rawHeaders), 'Connection', 'close']));
    upstreamRes.pipe(client);
  });
  upstream.end();
}

const upgradeHeaders: ReadonlySet<string> = new Set(['connection', 'upgrade']);

function responseHead(res: IncomingMessage, headers: string[]): string {
  return headText(`HTTP/1.1 ${res.statusCode} ${res.statusMessage}`, headers);
}
