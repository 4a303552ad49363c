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
  const port = upstreamPort(target, incomingPort);
  const dest = route.tlsMode === 'terminate-and-reencrypt' ? upstreamTarget(target.host, port, upstreamTlsOptions(route, requestHost)) : plainDest(target, port);
  if (target.proxyProtocol === undefined) return dest;
  const ends = connectionEnds(client);
  return { ...dest, key: `${dest.key}|${target.proxyProtocol}|${ends.clientIp}:${ends.clientPort}` };
}

// The plain destination of a target, kept on it: the same object (and pool key, its hash computed once)
// for every request, instead of a new key string to build and hash per request.
const kPlainDest = Symbol('plainDest');
type WithPlainDest = Upstream & { [kPlainDest]?: UpstreamTarget };

function plainDest(target: WithPlainDest, port: number): UpstreamTarget {
  const kept = target[kPlainDest];
  if (kept !== undefined && kept.port === port) return kept;
  return (target[kPlainDest] = upstreamTarget(target.host, port));
}
