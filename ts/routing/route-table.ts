import type { RouteProblem } from '../errors.js';
import { RouteIndex } from './route-index.js';
import type { Route } from './route.js';

/**
 * How a port's listener treats a new connection, decided from its routes
 * once per update:
 * - TLS routes present: peek for a ClientHello first;
 * - HTTP routes present: plain connections are parsed as HTTP, and every
 *   non-TLS route on the port (even a bare forward) is matched per request;
 * - otherwise plain connections are matched at once, without reading a byte,
 *   so server-speaks-first protocols (SMTP, databases) work.
 */
export class PortTable {
  readonly port: number;
  readonly tls: RouteIndex | undefined;
  readonly http: RouteIndex | undefined;
  readonly tcp: RouteIndex | undefined;
  /** Every route on the port (user and internal), in table order. */
  readonly routes: readonly Route[];

  /** `previous`: this port's table in the live snapshot, whose indexes the new ones are derived from. */
  constructor(port: number, routes: readonly Route[], previous?: PortTable) {
    this.port = port;
    this.routes = routes;
    const tls = routes.filter((r) => r.layer === 'tls');
    const plain = routes.filter((r) => r.layer !== 'tls');
    const httpMode = plain.some((r) => r.layer === 'http');
    this.tls = tls.length > 0 ? indexOf(tls, previous?.tls) : undefined;
    this.http = httpMode ? indexOf(plain, previous?.http) : undefined;
    this.tcp = !httpMode && plain.length > 0 ? indexOf(plain, previous?.tcp) : undefined;
  }

  /** Live routes (user and internal) on the port: its reference count. */
  get routeCount(): number {
    return this.routes.length;
  }
}

function indexOf(routes: readonly Route[], previous: RouteIndex | undefined): RouteIndex {
  return previous === undefined ? new RouteIndex(routes) : previous.derive(routes);
}

/**
 * An immutable snapshot of every route, by port. Swapped whole; never edited.
 * Built from the live snapshot (`previous`), a port whose routes are the
 * same, in the same order, keeps its PortTable object, and one whose routes
 * changed derives its indexes from the old ones: an update costs what it
 * changed, plus a walk over the routes.
 */
export class RouteTable {
  readonly routes: readonly Route[];
  readonly ports: ReadonlyMap<number, PortTable>;

  constructor(routes: readonly Route[], previous?: RouteTable) {
    this.routes = routes;
    const byPort = new Map<number, Route[]>();
    for (const route of routes) {
      for (const port of route.ports) {
        const list = byPort.get(port);
        if (list === undefined) byPort.set(port, [route]);
        else list.push(route);
      }
    }
    const ports = new Map<number, PortTable>();
    for (const [port, list] of byPort) {
      const old = previous?.ports.get(port);
      ports.set(port, old !== undefined && sameRoutes(old.routes, list) ? old : new PortTable(port, list, old));
    }
    this.ports = ports;
  }

  static readonly empty = new RouteTable([]);

  /** Sorted port numbers the table needs listeners for. */
  portNumbers(): number[] {
    return [...this.ports.keys()].sort((a, b) => a - b);
  }

  refCount(port: number): number {
    return this.ports.get(port)?.routeCount ?? 0;
  }
}

function sameRoutes(a: readonly Route[], b: readonly Route[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Problems that only show when routes are seen together on a port. */
export function portConflicts(table: RouteTable): RouteProblem[] {
  const problems: RouteProblem[] = [];
  for (const portTable of table.ports.values()) {
    const index = portTable.http;
    if (index === undefined) continue;
    const httpRoute = index.routes.find((r) => r.layer === 'http');
    for (const route of index.routes) {
      if (route.action.type !== 'socket-handler') continue;
      problems.push({
        route: route.name,
        path: 'match.ports',
        message:
          `socket-handler shares port ${portTable.port} with HTTP route '${httpRoute?.name}': ` +
          'a port that parses HTTP cannot hand raw sockets over; give the socket handler its own port',
      });
    }
  }
  return problems;
}
