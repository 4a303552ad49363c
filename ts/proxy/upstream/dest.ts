import type { Socket } from 'node:net';
import type { Route } from '../../routing/route.js';
import { upstreamPort, type Upstream } from '../balancer/upstream.js';
import { connectionEnds } from '../proxy-protocol/client-address.js';
import { upstreamTlsOptions } from '../tls/upstream-tls.js';
import { upstreamTarget, type UpstreamTarget } from './socket.js';

/**
 * Where one exchange of `route` to `target` goes, for every engine: the
 * target's host and port (the client's port for `preserve`), TLS settings
 * for a re-encrypted route (SNI from the request's host), and the pool key.
 * A target that gets a PROXY header is also keyed by the client's address,
 * since the header names one client and a pooled socket keeps it.
 */
export function exchangeDest(route: Route, target: Upstream, incomingPort: number, requestHost: string | undefined, client: Socket): UpstreamTarget {
  const reencrypt = route.tlsMode === 'terminate-and-reencrypt';
  const dest = upstreamTarget(target.host, upstreamPort(target, incomingPort), reencrypt ? upstreamTlsOptions(route, requestHost) : undefined);
  if (target.proxyProtocol === undefined) return dest;
  const ends = connectionEnds(client);
  return { ...dest, key: `${dest.key}|${target.proxyProtocol}|${ends.clientIp}:${ends.clientPort}` };
}
