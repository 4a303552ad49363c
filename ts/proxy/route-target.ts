import type { Agent, RequestOptions } from 'node:http';
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
 * node:http(s) request options that carry the client's method, target and
 * (already rewritten) headers to the chosen upstream. `reencrypt` is the
 * terminate-and-reencrypt route, whose upstream certificate is verified
 * (see upstreamTlsOptions): by default against the system store, with the
 * request's host as SNI and verification name. A target that wants a PROXY
 * header gets a connection of its own (no agent: a pooled connection's
 * header would name another client), the header written before anything else.
 */
export function upstreamRequestOptions(
  target: Upstream,
  incomingPort: number,
  req: { readonly method?: string | undefined; readonly url?: string | undefined; readonly socket: Socket },
  headers: string[],
  requestHost: string | undefined,
  reencrypt: Route | undefined,
  agent: Agent | false,
): RequestOptions {
  const host = target.host;
  const port = upstreamPort(target, incomingPort);
  const tlsOptions = reencrypt === undefined ? undefined : upstreamTlsOptions(reencrypt, requestHost);
  const options: RequestOptions = { host, port, method: req.method, path: req.url, headers, setHost: false, agent, ...tlsOptions };
  const version = target.proxyProtocol;
  if (version === undefined) return options;
  const header = buildProxyHeader(version, connectionEnds(req.socket));
  options.agent = undefined;
  options.createConnection = (): Socket => {
    const raw = netConnect({ host, port, noDelay: true });
    raw.write(header);
    return tlsOptions === undefined ? raw : tlsConnect({ ...tlsOptions, socket: raw });
  };
  return options;
}
