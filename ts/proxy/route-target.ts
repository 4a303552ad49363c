import type { RequestOptions } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Route } from '../routing/route.js';
import type { Upstream } from './balancer/upstream.js';
import { upstreamPort } from './balancer/upstream.js';
import { connectionEnds } from './proxy-protocol/client-address.js';
import { buildProxyHeader } from './proxy-protocol/header.js';
import { upstreamTlsOptions } from './tls/upstream-tls.js';

export { upstreamServerName } from './tls/upstream-tls.js';

/**
 * node:http(s) request options for an Upgrade handshake (websocket.ts),
 * the one request that still goes through Node's client: its connection
 * becomes a tunnel and is never pooled, so every one is its own (no agent).
 * `reencrypt` is the terminate-and-reencrypt route, whose upstream
 * certificate is verified (see upstreamTlsOptions): by default against the
 * system store, with the request's host as SNI and verification name. A
 * target that wants a PROXY header gets it before anything else.
 */
export function upstreamRequestOptions(
  target: Upstream,
  incomingPort: number,
  req: { readonly method?: string | undefined; readonly url?: string | undefined; readonly socket: Socket },
  headers: string[],
  requestHost: string | undefined,
  reencrypt: Route | undefined,
): RequestOptions {
  const host = target.host;
  const port = upstreamPort(target, incomingPort);
  const tlsOptions = reencrypt === undefined ? undefined : upstreamTlsOptions(reencrypt, requestHost);
  const options: RequestOptions = { host, port, method: req.method, path: req.url, headers, setHost: false, agent: false, ...tlsOptions };
  const version = target.proxyProtocol;
  if (version === undefined) return options;
  const header = buildProxyHeader(version, connectionEnds(req.socket));
  // Node's client calls createConnection only when there is no agent at all (false would make it a fresh Agent).
  options.agent = undefined;
  options.createConnection = (): Socket => {
    const raw = netConnect({ host, port, noDelay: true });
    raw.write(header);
    return tlsOptions === undefined ? raw : tlsConnect({ ...tlsOptions, socket: raw });
  };
  return options;
}
