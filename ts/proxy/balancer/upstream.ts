/**
 * One upstream target of a forward route and its live state, and the
 * normalisation of every `action.target` form into a list of them.
 */
import type { IRouteAction, ProxyProtocolVersion } from '../../routing/types.js';

/**
 * Passive ejection. A target that fails `maxFails` times within
 * `failWindowMs` gets no traffic for `ejectMs` (while another target is
 * available). Defaults: 3 failures in 10 s eject for 10 s, as nginx's
 * `max_fails=1 fail_timeout=10s` but tolerant of a single blip.
 */
export const passiveDefaults = Object.freeze({ maxFails: 3, failWindowMs: 10_000, ejectMs: 10_000 });

/** A target of a forward route: where to connect, and what the balancer knows about it. */
export interface Upstream {
  readonly host: string;
  /** A port, or `'preserve'`: the port the client connected to. */
  readonly port: number | 'preserve';
  /** A PROXY protocol header sent first on every connection to it. Default: none. */
  readonly proxyProtocol: ProxyProtocolVersion | undefined;
  /** `host:port` as configured, for logs and metrics. */
  readonly key: string;
  /** Connections or requests in flight to it (least-connections). */
  active: number;
  /** Failures counted in the current window. */
  fails: number;
  failWindowStart: number;
  /** Passively ejected until this time (ms since epoch); 0 when not. */
  ejectedUntil: number;
  /** The active health check's verdict; true when there is no check. */
  healthy: boolean;
  /** Consecutive health check results in the same direction. */
  streak: number;
  /** Every failure ever reported, for metrics. */
  totalFailures: number;
}

function upstream(host: string, port: number | 'preserve', proxyProtocol: ProxyProtocolVersion | undefined): Upstream {
  return { host, port, proxyProtocol, key: `${host}:${port}`, active: 0, fails: 0, failWindowStart: 0, ejectedUntil: 0, healthy: true, streak: 0, totalFailures: 0 };
}

/** Every target a validated forward action names, in order: `{ host: string | string[], port }` or a list of `{ host, port }`. */
export function upstreamsOf(action: IRouteAction): Upstream[] {
  const target = action.target;
  if (target === undefined) return [];
  if (Array.isArray(target)) return target.map((t) => upstream(t.host, t.port, t.proxyProtocol));
  const hosts = typeof target.host === 'string' ? [target.host] : target.host;
  return hosts.map((host) => upstream(host, target.port, target.proxyProtocol));
}

/** The port to connect to for a request that arrived on `incomingPort`. */
export function upstreamPort(target: Upstream, incomingPort: number): number {
  return target.port === 'preserve' ? incomingPort : target.port;
}
