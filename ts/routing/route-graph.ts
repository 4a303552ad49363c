import { matchProfile } from './match-coverage.js';
import { protocolFindings, redirectLoopFindings, type PortFinding } from './port-warnings.js';
import type { Route } from './route.js';
import type { IRouteGraph, IRouteGraphPort, IRouteGraphRoute, IRouteWarning, PortMode } from './route-graph-types.js';
import type { PortTable, RouteTable } from './route-table.js';
import { findShadowedRoutes } from './shadowing.js';

/** What the port pool says about a port; the table alone cannot know. */
export interface PortState {
  listening(port: number): boolean;
  refCount(port: number): number;
}

/** A port pool with nothing bound: the graph of a table that is not running (the CLI, before start()). */
export function idlePorts(table: RouteTable): PortState {
  return { listening: () => false, refCount: (port) => table.refCount(port) };
}

/** Builds the graph of a table: ports in ascending order, each with its routes in the order they are tried, and the table's warnings. */
export function buildRouteGraph(table: RouteTable, ports: PortState): IRouteGraph {
  const graphPorts = portOrders(table).map(({ port, mode, routes }) => ({
    port,
    refCount: ports.refCount(port),
    listening: ports.listening(port),
    mode,
    routes: routes.map((route) => ({ ...route })),
  }));
  return { ports: graphPorts, warnings: routeWarnings(table) };
}

type PortOrder = Omit<IRouteGraphPort, 'refCount' | 'listening'>;

// Like the warnings, a table's route order never changes: sorted once, copied out per call.
const ordersByTable = new WeakMap<RouteTable, readonly PortOrder[]>();

function portOrders(table: RouteTable): readonly PortOrder[] {
  let orders = ordersByTable.get(table);
  if (orders === undefined) {
    const position = positions(table);
    const internalCount = table.routes.filter((r) => r.internal).length;
    orders = table.portNumbers().map((port) => {
      const portTable = table.ports.get(port)!;
      return { port, mode: portMode(portTable), routes: triedOrder(portTable, position).map((route) => graphRoute(route, position, internalCount)) };
    });
    ordersByTable.set(table, orders);
  }
  return orders;
}

/** How the port's listener reads a new connection, from which indexes its table has (see PortTable). */
export function portMode(table: PortTable): PortMode {
  if (table.tls !== undefined) return table.http !== undefined ? 'tls+http' : 'tls';
  return table.http !== undefined ? 'http' : 'tcp';
}

// A table is immutable, so its warnings are computed once, whoever asks first (the update's log or getRouteGraph()).
const warningsByTable = new WeakMap<RouteTable, readonly IRouteWarning[]>();

/** Every warning about a table, merged across the ports each one repeats on. Computed once per table. */
export function routeWarnings(table: RouteTable): IRouteWarning[] {
  let warnings = warningsByTable.get(table);
  if (warnings === undefined) {
    warnings = Object.freeze(mergeFindings(portFindings(table)));
    warningsByTable.set(table, warnings);
  }
  return warnings.map((w) => ({ ...w, ports: w.ports.slice() }));
}

function portFindings(table: RouteTable): PortFinding[] {
  const position = positions(table);
  const found: PortFinding[] = [];
  for (const portTable of table.ports.values()) {
    found.push(...protocolFindings(portTable), ...redirectLoopFindings(portTable));
    for (const index of [portTable.tls, portTable.http ?? portTable.tcp]) {
      if (index === undefined) continue;
      for (const { route, by, reason } of findShadowedRoutes(index.routes, position)) {
        found.push({
          kind: 'shadowed',
          route,
          by,
          port: portTable.port,
          describe: (where) => `route '${route.name}' can never match ${where}: route '${by.name}' ${reason}`,
        });
      }
    }
  }
  return found;
}

/** One warning per (kind, route, other route), listing every port it holds on: a route on a port range warns once, not once per port. */
function mergeFindings(findings: readonly PortFinding[]): IRouteWarning[] {
  const merged = new Map<string, { first: PortFinding; ports: number[] }>();
  for (const finding of findings) {
    const key = `${finding.kind}\u0000${finding.route.name}\u0000${finding.by?.name ?? ''}`;
    const entry = merged.get(key);
    if (entry === undefined) merged.set(key, { first: finding, ports: [finding.port] });
    else entry.ports.push(finding.port);
  }
  const warnings: IRouteWarning[] = [];
  for (const { first, ports } of merged.values()) {
    ports.sort((a, b) => a - b);
    const warning: IRouteWarning = { route: first.route.name, kind: first.kind, port: ports[0]!, ports, message: first.describe(describePorts(ports)) };
    if (first.by !== undefined) warning.by = first.by.name;
    warnings.push(warning);
  }
  return warnings.sort((a, b) => a.port! - b.port! || a.route.localeCompare(b.route));
}

/** 'on port 80', 'on ports 80, 8080', 'on 1000 ports (8000-8999)'. */
export function describePorts(ports: readonly number[]): string {
  if (ports.length === 1) return `on port ${ports[0]}`;
  if (ports.length <= 5) return `on ports ${ports.join(', ')}`;
  return `on ${ports.length} ports (${ports[0]}-${ports.at(-1)})`;
}

const positionsByTable = new WeakMap<RouteTable, ReadonlyMap<Route, number>>();

/** Each route's place in the table: internal routes first, then the user's in the order given. Shared by the warnings and the route order. */
function positions(table: RouteTable): ReadonlyMap<Route, number> {
  let position = positionsByTable.get(table);
  if (position === undefined) {
    const map = new Map<Route, number>();
    table.routes.forEach((route, i) => map.set(route, i));
    positionsByTable.set(table, (position = map));
  }
  return position;
}

function graphRoute(route: Route, position: ReadonlyMap<Route, number>, internalCount: number): IRouteGraphRoute {
  return {
    name: route.name,
    internal: route.internal,
    order: route.internal ? -1 : position.get(route)! - internalCount,
    priority: route.priority,
    layer: route.layer,
  };
}

/** The port's routes as the matcher prefers them: TLS routes (tried first on a TLS port), then the plain ones. */
function triedOrder(table: PortTable, position: ReadonlyMap<Route, number>): Route[] {
  return [...sortByPrecedence(table.tls?.routes ?? [], position), ...sortByPrecedence((table.http ?? table.tcp)?.routes ?? [], position)];
}

function sortByPrecedence(routes: readonly Route[], position: ReadonlyMap<Route, number>): Route[] {
  // Sort keys computed once per route, not once per comparison.
  const keyed = routes.map((route) => ({ route, rank: domainRank(route), path: route.path?.specificity ?? 0, at: position.get(route)! }));
  keyed.sort((a, b) => b.route.priority - a.route.priority || b.rank - a.rank || b.path - a.path || a.at - b.at);
  return keyed.map((k) => k.route);
}

/**
 * The best rank a route can reach for a host name, as RouteIndex ranks a
 * hit: exact above wildcard (longer suffix first) above glob above any.
 */
function domainRank(route: Route): number {
  let best = 0;
  for (const key of matchProfile(route).domainKeys) {
    const kind = key.slice(0, 2);
    const rank = kind === 'e:' ? 3_000_000 : kind === 'w:' ? 2_000_000 + key.length - 1 : kind === 'g:' ? 1_000_000 : 0;
    if (rank > best) best = rank;
  }
  return best;
}
