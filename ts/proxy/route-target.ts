import type { Agent, IncomingMessage, RequestOptions } from 'node:http';
import { isIP } from 'node:net';
import type { Route } from '../routing/route.js';

/** The next upstream host (round-robin over a list) and port for a forward route. */
export function pickTarget(route: Route, incomingPort: number): { host: string; port: number } {
  const hosts = route.targetHosts;
  const state = route.state;
  const host = hosts.length === 1 ? hosts[0]! : hosts[state.nextTarget++ % hosts.length]!;
  const port = route.action.target!.port;
  return { host, port: port === 'preserve' ? incomingPort : port };
}

/**
 * The SNI to send a re-encrypted upstream: the client's Host without its
 * port, so name-based upstreams pick the right certificate. IP literals are
 * not valid SNI (RFC 6066 §3; Node warns with DEP0123), so none is sent.
 */
export function upstreamServerName(host: string | undefined): string | undefined {
  if (host === undefined || host.startsWith('[')) return undefined;
  const colon = host.indexOf(':');
  const name = colon === -1 ? host : host.slice(0, colon);
  return name.length === 0 || isIP(name) !== 0 ? undefined : name;
}

/**
 * node:http(s) request options that carry the client's method, target and
 * (already rewritten) headers to the chosen upstream. Re-encrypted upstreams
 * are not verified (see UpstreamAgents) and get the request's host as SNI.
 */
export function upstreamRequestOptions(
  target: { host: string; port: number },
  req: IncomingMessage,
  headers: string[],
  requestHost: string | undefined,
  reencrypt: boolean,
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
    ...(reencrypt ? { rejectUnauthorized: false, servername: upstreamServerName(requestHost) } : {}),
  };
}
