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
  /** Live routes (user and internal) on the port: its reference count. */
  readonly routeCount: number;

  constructor(port: number, routes: readonly Route[]) {
    this.port = port;
    this.routeCount = routes.length;
    const tls = routes.filter((r) => r.layer === 'tls');
    const plain = routes.filter((r) => r.layer !== 'tls');
    const httpMode = plain.some((r) => r.layer === 'http');
    this.tls = tls.length > 0 ? new RouteIndex(tls) : undefined;
    this.http = httpMode ? new RouteIndex(plain) : undefined;
    this.tcp = !httpMode && plain.length > 0 ? new RouteIndex(plain) : undefined;
  }
}

/** An immutable snapshot of every route, by port. Swapped whole; never edited. */
export class RouteTable {
  readonly routes: readonly Route[];
  readonly ports: ReadonlyMap<number, PortTable>;

  constructor(routes: readonly Route[]) {
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
    for (const [port, list] of byPort) ports.set(port, new PortTable(port, list));
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
