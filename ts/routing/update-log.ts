import type { Logger } from 'pino';
import { portMode, routeWarnings } from './route-graph.js';
import type { IRouteWarning } from './route-graph-types.js';
import type { PortTable, RouteTable } from './route-table.js';
import type { Route } from './route.js';

/** Route names listed per port at debug; a port with ten thousand routes is summarised, not dumped. */
const maxNamesPerPort = 20;

/**
 * The logs of route updates: at info one line per update with counts; at
 * debug the ports gained and lost and the routes holding each port whose
 * routes changed; at warn each warning the first time an update brings it
 * in (a warning that goes away and comes back is told again).
 */
export class RouteUpdateLog {
  readonly #logger: Logger;
  #told = new Set<string>();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Logs the update from `before` to `after`, which is live already. */
  applied(before: RouteTable, after: RouteTable): void {
    const warnings = routeWarnings(after);
    const told = new Set<string>();
    for (const warning of warnings) {
      const key = warningKey(warning);
      told.add(key);
      if (this.#told.has(key)) continue;
      this.#logger.warn({ route: warning.route, kind: warning.kind, by: warning.by, ports: warning.ports }, warning.message);
    }
    this.#told = told;
    const gained = after.portNumbers().filter((port) => !before.ports.has(port));
    const lost = before.portNumbers().filter((port) => !after.ports.has(port));
    const internal = after.routes.filter((r) => r.internal).length;
    const routes = after.routes.length - internal;
    const change = [gained.length > 0 ? `+${gained.join(' +')}` : '', lost.length > 0 ? `-${lost.join(' -')}` : ''].filter(Boolean).join(' ');
    this.#logger.info(
      { routes, internalRoutes: internal, ports: after.ports.size, portsGained: gained.length, portsLost: lost.length, gained, lost, warnings: warnings.length },
      `routes applied: ${routes} route${routes === 1 ? '' : 's'} on ${after.ports.size} port${after.ports.size === 1 ? '' : 's'}${change ? ` (ports ${change})` : ''}`,
    );
    if (this.#logger.isLevelEnabled('debug')) this.#logBindings(before, after, gained, lost);
  }

  #logBindings(before: RouteTable, after: RouteTable, gained: number[], lost: number[]): void {
    const gainedSet = new Set(gained);
    const changed = after.portNumbers().filter((port) => !gainedSet.has(port) && routesChanged(before.ports.get(port)!, after.ports.get(port)!));
    this.#logger.debug({ gained, lost, changed }, 'port bindings: ports gained and lost by this update');
    for (const port of [...gained, ...changed]) {
      const table = after.ports.get(port)!;
      const names = routesOf(table).map((r) => r.name);
      this.#logger.debug(
        { port, change: gainedSet.has(port) ? 'gained' : 'changed', mode: portMode(table), refCount: table.routeCount, routes: names.slice(0, maxNamesPerPort), more: Math.max(0, names.length - maxNamesPerPort) },
        `port ${port} held by ${names.length} route${names.length === 1 ? '' : 's'}`,
      );
    }
    for (const port of lost) this.#logger.debug({ port, change: 'lost', refCount: 0 }, `port ${port} no longer held by any route`);
  }
}

function warningKey(warning: IRouteWarning): string {
  return `${warning.kind}\u0000${warning.route}\u0000${warning.by ?? ''}\u0000${warning.ports.join(',')}`;
}

function routesOf(table: PortTable): readonly Route[] {
  return [...(table.tls?.routes ?? []), ...((table.http ?? table.tcp)?.routes ?? [])];
}

/** Whether a port is held by other routes than before (routes are reused objects while unchanged). */
function routesChanged(before: PortTable, after: PortTable): boolean {
  if (before.routeCount !== after.routeCount) return true;
  const old = new Set(routesOf(before));
  return routesOf(after).some((route) => !old.has(route));
}
