import type { IncomingMessage, ServerResponse } from 'node:http';
import { compileIpMatcher, type IpMatcher } from './ip-matcher.js';
import { compilePathMatcher, type PathMatcher } from './path-matcher.js';
import { parseDomainPattern, type DomainPattern } from './domain-matcher.js';
import type { IRouteAction, IRouteConfig, PortSpec, TlsMode } from './types.js';
import { Balancer } from '../proxy/balancer/balancer.js';

/**
 * What a route needs from a connection before it can be matched:
 * - `tls`:  the ClientHello (SNI), then HTTP if terminated;
 * - `http`: a parsed request (Host, path), or it answers at the HTTP level;
 * - `tcp`:  nothing: bytes are piped or handed over as they come.
 */
export type RouteLayer = 'tcp' | 'http' | 'tls';

/** An HTTP responder for internal routes (the ACME challenge) that are not user actions. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A validated route, compiled once per route update. Everything the data
 * path needs is precomputed here; the only mutable fields are live counters.
 */
export interface Route {
  readonly name: string;
  readonly priority: number;
  readonly ports: readonly number[];
  readonly domains: readonly DomainPattern[] | undefined;
  readonly path: PathMatcher | undefined;
  readonly clientIp: IpMatcher | undefined;
  readonly allow: IpMatcher | undefined;
  readonly block: IpMatcher | undefined;
  readonly maxConnections: number;
  readonly layer: RouteLayer;
  readonly tlsMode: TlsMode | undefined;
  readonly action: IRouteAction;
  readonly config: IRouteConfig;
  readonly internal: boolean;
  readonly requestHandler: RequestHandler | undefined;
  /** Live state, carried over to the recompiled route while its config stays the same. */
  readonly state: RouteState;
}

export interface RouteState {
  /** Live connections matched to this route, for security.maxConnections. */
  connections: number;
  /** A forward route's targets, policy and health; set when the route is compiled. */
  balancer: Balancer | undefined;
  /** Set once a newer table no longer holds this route: its keep-alive connections close after the current request. */
  retired: boolean;
}

export function newRouteState(): RouteState {
  return { connections: 0, balancer: undefined, retired: false };
}

/** Ports, ranges and lists flattened to sorted unique port numbers. */
export function expandPorts(spec: PortSpec): number[] {
  const ports = new Set<number>();
  for (const entry of Array.isArray(spec) ? spec : [spec]) {
    if (typeof entry === 'number') ports.add(entry);
    else for (let p = entry.from; p <= entry.to; p++) ports.add(p);
  }
  return [...ports].sort((a, b) => a - b);
}

export function routeLayer(config: IRouteConfig): RouteLayer {
  const { action, match } = config;
  if (action.tls) return 'tls';
  if (action.type === 'socket-handler') return 'tcp';
  if (match.path !== undefined || match.domains !== undefined) return 'http';
  if (action.type === 'redirect' || action.type === 'static' || action.type === 'metrics') return 'http';
  return 'tcp';
}

/** Compiles a route that validateRoutes() accepted. */
export function compileRoute(
  config: IRouteConfig,
  name: string,
  state: RouteState,
  internal?: { requestHandler: RequestHandler },
): Route {
  const { match, action, security } = config;
  const domains = match.domains === undefined ? undefined : typeof match.domains === 'string' ? [match.domains] : match.domains;
  if (action.type === 'forward' && action.target !== undefined) state.balancer ??= new Balancer(action);
  return {
    name,
    priority: config.priority ?? 0,
    ports: expandPorts(match.ports),
    domains: domains?.map(parseDomainPattern),
    path: match.path === undefined ? undefined : compilePathMatcher(match.path),
    clientIp: match.clientIp ? compileIpMatcher(match.clientIp) : undefined,
    allow: security?.ipAllowList ? compileIpMatcher(security.ipAllowList) : undefined,
    block: security?.ipBlockList ? compileIpMatcher(security.ipBlockList) : undefined,
    maxConnections: security?.maxConnections ?? Infinity,
    layer: routeLayer(config),
    tlsMode: action.tls?.mode,
    action,
    config,
    internal: internal !== undefined,
    requestHandler: internal?.requestHandler,
    state,
  };
}

/** Whether the route's security settings let this client in. */
export function isClientAllowed(route: Route, clientIp: string): boolean {
  if (route.block?.matches(clientIp)) return false;
  return route.allow === undefined || route.allow.matches(clientIp);
}
