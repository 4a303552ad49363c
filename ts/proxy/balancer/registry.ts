/**
 * Starts and stops the balancers' health checks as route tables go live and
 * are replaced: a route that stays keeps its checks, a retired one stops
 * them, and stop() leaves no timer behind.
 */
import type { Logger } from 'pino';
import type { Route } from '../../routing/route.js';
import type { IUpstreamMetrics } from '../../metrics/metrics.js';

interface RouteList {
  readonly routes: readonly Route[];
}

/** Starts the checks of routes new in `after` and stops those of routes `after` no longer holds. */
export function syncHealthChecks(before: RouteList, after: RouteList, logger: Logger): void {
  const kept = new Set(after.routes);
  for (const route of before.routes) if (!kept.has(route)) route.state.balancer?.stopHealthChecks();
  for (const route of after.routes) {
    // A re-encrypting route's targets speak TLS: a TCP connect is the check that needs no certificate.
    const http = route.layer === 'http' || route.tlsMode === 'terminate';
    route.state.balancer?.startHealthChecks(logger, route.name, http, route.ports[0] ?? 0);
  }
}

/** Every forward route's targets by route name, for getMetrics(). */
export function upstreamMetrics(table: RouteList): Record<string, IUpstreamMetrics[]> {
  const out: Record<string, IUpstreamMetrics[]> = {};
  for (const route of table.routes) {
    const balancer = route.state.balancer;
    if (balancer !== undefined && !route.internal) out[route.name] = balancer.metrics();
  }
  return out;
}
