import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Route } from '../../routing/route.js';
import type { IRouteConfig, IUpstreamTls } from '../../routing/types.js';

/**
 * The TLS options that say how a terminate-and-reencrypt upstream is
 * verified. The upstream pool puts all three in its key (upstreamTarget in
 * upstream/socket.ts), so a socket opened without verification, or against
 * another route's CA, is reused only by requests with the same three values.
 */
export interface UpstreamTlsOptions {
  rejectUnauthorized: boolean;
  /** Only set when the route names CAs; otherwise Node's bundled root store is used. */
  ca?: string[];
  servername?: string;
}

/** Per route config: verification settings are fixed for a route's life, only the servername varies per request. */
const baseOptions = new WeakMap<IUpstreamTls, Omit<UpstreamTlsOptions, 'servername'>>();
const verifyByDefault: Omit<UpstreamTlsOptions, 'servername'> = Object.freeze({ rejectUnauthorized: true });

/**
 * How to verify this route's upstream for a request with this Host:
 * verified by default, against `upstream.ca` when given and Node's root
 * store otherwise; the name sent as SNI and checked against the upstream's
 * certificate is `upstream.servername`, else the request's host.
 */
export function upstreamTlsOptions(route: Route, requestHost: string | undefined): UpstreamTlsOptions {
  const upstream = route.action.tls?.upstream;
  const servername = upstream?.servername ?? upstreamServerName(requestHost);
  const base = upstream === undefined ? verifyByDefault : baseFor(upstream);
  return servername === undefined ? { ...base } : { ...base, servername };
}

function baseFor(upstream: IUpstreamTls): Omit<UpstreamTlsOptions, 'servername'> {
  let base = baseOptions.get(upstream);
  if (base === undefined) {
    const verify = upstream.verify !== false;
    base = Object.freeze(verify && upstream.ca !== undefined ? { rejectUnauthorized: true, ca: ([] as string[]).concat(upstream.ca) } : { rejectUnauthorized: verify });
    baseOptions.set(upstream, base);
  }
  return base;
}

/**
 * The SNI to send a re-encrypted upstream: the client's Host without its
 * port or a trailing dot, so name-based upstreams pick the right
 * certificate. IP literals are not valid SNI (RFC 6066 §3; Node warns with
 * DEP0123), so none is sent and the upstream is verified against its address.
 */
export function upstreamServerName(host: string | undefined): string | undefined {
  if (host === undefined || host.startsWith('[')) return undefined;
  const colon = host.indexOf(':');
  let name = colon === -1 ? host : host.slice(0, colon);
  if (name.endsWith('.')) name = name.slice(0, -1);
  return name.length === 0 || isIP(name) !== 0 ? undefined : name;
}

/** Route configs already warned about; a route kept across updates is not warned about again. */
const warned = new WeakSet<IRouteConfig>();

/**
 * Logs once per route that opted out of upstream verification: a
 * man-in-the-middle between the proxy and such an upstream reads and
 * changes every request, so the choice should stay visible in the logs.
 */
export function warnUnverifiedUpstreams(routes: readonly Route[], logger: Logger): void {
  for (const route of routes) {
    const tls = route.action.tls;
    if (tls?.mode !== 'terminate-and-reencrypt' || tls.upstream?.verify !== false || warned.has(route.config)) continue;
    warned.add(route.config);
    logger.warn({ route: route.name }, "upstream TLS certificate is not verified for this route (action.tls.upstream.verify: false)");
  }
}
