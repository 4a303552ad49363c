import { pathPatternShape } from './path-matcher.js';
import type { Route } from './route.js';
import type { RouteWarningKind } from './route-graph-types.js';
import type { PortTable } from './route-table.js';

/** One warning on one port, before warnings are merged across the ports they repeat on. */
export interface PortFinding {
  readonly kind: RouteWarningKind;
  readonly route: Route;
  readonly by: Route | undefined;
  readonly port: number;
  /** The message, given where it applies ('on port 80', 'on ports 80, 8080'). */
  describe(where: string): string;
}

/**
 * A port with HTTP routes parses every plain connection as HTTP (see
 * PortTable), so a bare TCP route there only ever sees connections that
 * parse as HTTP: an SMTP relay or database forward that worked alone
 * breaks the moment an HTTP route joins its port. The HTTP route named is a
 * user route when there is one, else the proxy's own (the ACME challenge).
 */
export function protocolFindings(table: PortTable): PortFinding[] {
  const index = table.http;
  if (index === undefined) return [];
  // A bare block is refused either way; a forward is what stops working. (A socket handler here is a validation error.)
  const tcpRoutes = index.routes.filter((r) => r.layer === 'tcp' && r.action.type === 'forward' && !r.internal);
  if (tcpRoutes.length === 0) return [];
  const httpRoute = index.routes.find((r) => r.layer === 'http' && !r.internal) ?? index.routes.find((r) => r.layer === 'http')!;
  const cause = httpRoute.internal ? `the proxy's own route '${httpRoute.name}' (there while an ACME HTTP-01 order is pending)` : `HTTP route '${httpRoute.name}'`;
  return tcpRoutes.map((route) => ({
    kind: 'protocol',
    route,
    by: httpRoute,
    port: table.port,
    describe: (where) =>
      `route '${route.name}' is a plain TCP forward ${where}, which ${cause} also uses: connections there are parsed as HTTP, ` +
      `so '${route.name}' only receives what parses as HTTP (server-speaks-first protocols such as SMTP break); give one of them its own port`,
  }));
}

/**
 * Redirects that answer a URL with itself: same scheme, host, port and
 * path. Only spellings that are certain are flagged: `{path}` (with or
 * without `?{query}`) or the route's own exact path, to `{domain}` or the
 * route's only host name, on the port the request came in on.
 */
export function redirectLoopFindings(table: PortTable): PortFinding[] {
  const found: PortFinding[] = [];
  const check = (route: Route, scheme: 'http' | 'https') => {
    if (route.internal || route.action.type !== 'redirect' || route.action.redirect === undefined) return;
    if (!redirectsToItself(route, route.action.redirect.to, scheme, table.port)) return;
    found.push({
      kind: 'redirect-loop',
      route,
      by: undefined,
      port: table.port,
      describe: (where) => `route '${route.name}' redirects ${where} to '${route.action.redirect!.to}', the URL it was asked for: clients follow it until they give up`,
    });
  };
  for (const route of table.http?.routes ?? []) if (route.layer === 'http') check(route, 'http');
  for (const route of table.tls?.routes ?? []) if (route.tlsMode !== undefined && route.tlsMode !== 'passthrough') check(route, 'https');
  return found;
}

const absoluteUrl = /^(https?):\/\/([^/?#]*)(.*)$/i;

function redirectsToItself(route: Route, to: string, scheme: 'http' | 'https', port: number): boolean {
  if (to.startsWith('/') && !to.startsWith('//')) return isSamePath(route, to);
  if (to.startsWith('{path}')) return isSamePath(route, to);
  const url = absoluteUrl.exec(to);
  if (url === null || url[1]!.toLowerCase() !== scheme) return false;
  // '{path}' holds no '/', so the authority pattern runs on into it: 'http://{domain}{path}'.
  const pathAt = url[2]!.indexOf('{path}');
  const authority = (pathAt === -1 ? url[2]! : url[2]!.slice(0, pathAt)).toLowerCase();
  const rest = pathAt === -1 ? url[3]! : url[2]!.slice(pathAt) + url[3]!;
  const colon = authority.lastIndexOf(':');
  const host = colon === -1 ? authority : authority.slice(0, colon);
  const portText = colon === -1 ? undefined : authority.slice(colon + 1);
  const samePort = portText === undefined ? port === (scheme === 'http' ? 80 : 443) : portText === '{port}' || portText === String(port);
  return samePort && isSameHost(route, host) && isSamePath(route, rest);
}

function isSameHost(route: Route, host: string): boolean {
  if (host === '{domain}') return true;
  const only = route.domains?.length === 1 ? route.domains[0] : undefined;
  return only?.kind === 'exact' && only.name === host;
}

function isSamePath(route: Route, path: string): boolean {
  if (path === '{path}' || path === '{path}?{query}') return true;
  const shape = route.path === undefined ? undefined : pathPatternShape(route.path.pattern);
  return shape?.kind === 'exact' && (path === shape.path || path === `${shape.path}?{query}`);
}
