import type { IRouteGraph, IRouteGraphPort, IRouteGraphRoute, IRouteWarning } from '../routing/route-graph-types.js';
import type { IRouteConfig } from '../routing/types.js';
import { routeLabel } from '../routing/validate.js';

/**
 * The route graph as a tree for `smartproxy routes`: port → how it reads
 * connections → routes in the order they are tried, each warning printed
 * under the route it concerns on the port it concerns.
 *
 *   port 8080  http  2 routes
 *     http
 *     ├─ app     app.localhost  → forward 127.0.0.1:3000
 *     └─ hello   /hello  → static
 */
export function formatRouteTree(graph: IRouteGraph, routes: readonly IRouteConfig[]): string {
  const configs = new Map(routes.map((route, i) => [routeLabel(route, i), route]));
  const lines: string[] = [];
  for (const port of graph.ports) {
    lines.push(`port ${port.port}  ${port.mode}  ${port.refCount} route${port.refCount === 1 ? '' : 's'}`);
    for (const [group, members] of groups(port)) {
      lines.push(`  ${group}`);
      const width = Math.max(...members.map((r) => r.name.length));
      members.forEach((route, i) => {
        const last = i === members.length - 1;
        lines.push(`  ${last ? '└─' : '├─'} ${route.name.padEnd(width)}  ${describe(route, configs.get(route.name))}`);
        for (const warning of warningsFor(graph.warnings, route.name, port.port)) {
          lines.push(`  ${last ? '  ' : '│ '}   ! ${warning.kind}: ${warning.message}`);
        }
      });
    }
  }
  return lines.join('\n');
}

/** TLS routes first (matched on the ClientHello), then the plain ones, named by how the port reads them. */
function groups(port: IRouteGraphPort): [string, IRouteGraphRoute[]][] {
  const tls = port.routes.filter((r) => r.layer === 'tls');
  const plain = port.routes.filter((r) => r.layer !== 'tls');
  const plainName = port.mode === 'http' || port.mode === 'tls+http' ? 'http' : 'tcp';
  const result: [string, IRouteGraphRoute[]][] = [];
  if (tls.length > 0) result.push(['tls', tls]);
  if (plain.length > 0) result.push([plainName, plain]);
  return result;
}

function warningsFor(warnings: readonly IRouteWarning[], route: string, port: number): IRouteWarning[] {
  return warnings.filter((w) => w.route === route && w.ports.includes(port));
}

/** What the route matches and does, in one line. */
function describe(route: IRouteGraphRoute, config: IRouteConfig | undefined): string {
  if (route.internal || config === undefined) return '(internal)';
  const { match, action } = config;
  const parts: string[] = [];
  if (route.priority !== 0) parts.push(`priority ${route.priority}`);
  const domains = match.domains === undefined ? [] : typeof match.domains === 'string' ? [match.domains] : match.domains;
  parts.push(domains.length > 0 ? domains.join(', ') : '*');
  if (match.path !== undefined) parts.push(match.path);
  if (match.clientIp !== undefined) parts.push(`from ${match.clientIp.join(', ')}`);
  const tls = action.tls ? ` (tls ${action.tls.mode})` : '';
  const t = action.target;
  // A list target names each host:port; the one-port form keeps its short host|host:port spelling.
  const targetText = t === undefined ? undefined : Array.isArray(t) ? t.map((e) => `${e.host}:${e.port}`).join('|') : `${[t.host].flat().join('|')}:${t.port}`;
  const target = targetText !== undefined ? ` ${targetText}` : action.redirect ? ` ${action.redirect.to}` : '';
  return `${parts.join('  ')}  → ${action.type}${tls}${target}`;
}
