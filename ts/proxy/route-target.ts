import type { Agent, RequestOptions } from 'node:http';
import type { Route } from '../routing/route.js';
import { upstreamTlsOptions } from './tls/upstream-tls.js';

export { upstreamServerName } from './tls/upstream-tls.js';

/** The next upstream host (round-robin over a list) and port for a forward route. */
export function pickTarget(route: Route, incomingPort: number): { host: string; port: number } {
  const hosts = route.targetHosts;
  const state = route.state;
  const host = hosts.length === 1 ? hosts[0]! : hosts[state.nextTarget++ % hosts.length]!;
  const port = route.action.target!.port;
  return { host, port: port === 'preserve' ? incomingPort : port };
}

/**
 * node:http(s) request options that carry the client's method, target and
 * (already rewritten) headers to the chosen upstream. `reencrypt` is the
 * terminate-and-reencrypt route, whose upstream certificate is verified
 * (see upstreamTlsOptions): by default against the system store, with the
 * request's host as SNI and verification name.
 */
export function upstreamRequestOptions(
  target: { host: string; port: number },
  req: { readonly method?: string | undefined; readonly url?: string | undefined },
  headers: string[],
  requestHost: string | undefined,
  reencrypt: Route | undefined,
  agent: Agent | false,
): RequestOptions {
  return {
    host: target.host,
    port: target.port,
    method: req.method,
    path: req.url,
    headers,
    setHost: false,
    agent,
    ...(reencrypt === undefined ? {} : upstreamTlsOptions(reencrypt, requestHost)),
  };
}
