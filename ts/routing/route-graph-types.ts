/**
 * The route graph: which routes share which port, in what order they are
 * tried there, and what the combination means that no single route says.
 * Plain data, built on demand by `SmartProxy.getRouteGraph()`.
 */

/**
 * How a port's listener reads a new connection:
 * - `tcp`: matched at once, without reading a byte (server-speaks-first protocols work);
 * - `http`: parsed as HTTP, every plain route matched per request;
 * - `tls`: the ClientHello is read first (a TLS connection no TLS route claims, or a
 *   plain one, goes to the port's TCP routes);
 * - `tls+http`: TLS connections by their ClientHello, plain ones parsed as HTTP.
 */
export type PortMode = 'tcp' | 'http' | 'tls' | 'tls+http';

/** Where a route is matched: on the ClientHello, per HTTP request, or on the bare connection. */
export type RouteGraphLayer = 'tls' | 'http' | 'tcp';

export interface IRouteGraphRoute {
  name: string;
  /** Added by the proxy itself (the ACME HTTP-01 challenge route while an order is pending). */
  internal: boolean;
  /** Position in the routes given to updateRoutes() (the last tie-break); -1 for internal routes. */
  order: number;
  priority: number;
  layer: RouteGraphLayer;
}

export interface IRouteGraphPort {
  port: number;
  /** Routes (user and internal) holding the port; the listener closes when it drops to 0. */
  refCount: number;
  /** Whether the proxy has a listener on the port now (false before start() and after stop()). */
  listening: boolean;
  mode: PortMode;
  /**
   * The port's routes in the order they are tried: TLS routes first (on a TLS
   * port), then the plain ones; within each, by priority, domain specificity
   * (exact, longer wildcard, glob, any), path specificity, then `order`.
   */
  routes: IRouteGraphRoute[];
}

/**
 * - `shadowed`: the route can never be chosen: `by` matches everything it
 *   matches on the port and always wins.
 * - `protocol`: the route's traffic is handled otherwise than it says: a
 *   plain TCP route on a port that also has HTTP routes is parsed as HTTP.
 * - `redirect-loop`: a redirect that sends clients back to the URL they asked for.
 */
export type RouteWarningKind = 'shadowed' | 'protocol' | 'redirect-loop';

/** Something about the routes that is legal but almost certainly not meant. Never blocks an update. */
export interface IRouteWarning {
  /** The route the warning is about. */
  route: string;
  kind: RouteWarningKind;
  /** The other route involved: the winner of a shadowed route, the HTTP route of a protocol warning. */
  by?: string;
  /** The (lowest) port concerned; `ports` lists them all. */
  port?: number;
  ports: number[];
  message: string;
}

export interface IRouteGraph {
  ports: IRouteGraphPort[];
  warnings: IRouteWarning[];
}
