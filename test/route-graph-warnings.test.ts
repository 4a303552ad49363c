// The warnings other than shadowing, both ways: protocol mixes on a port and
// redirects that answer a URL with itself.
import t from 'tap';
import type { IRouteConfig } from '../ts/index.js';
import { RouteManager, type InternalRoute } from '../ts/routing/route-manager.js';
import { routeWarnings } from '../ts/routing/route-graph.js';

const forward = { type: 'forward' as const, target: { host: '127.0.0.1', port: 9 } };

function warnings(routes: IRouteConfig[], internal: InternalRoute[] = []) {
  return routeWarnings(new RouteManager().prepare(routes, internal).table).map((w) => `${w.kind} ${w.route}${w.by ? ` <- ${w.by}` : ''} ${w.ports.join(',')}`);
}

t.test('protocol: a bare TCP route on a port with HTTP routes', async (t) => {
  const smtp: IRouteConfig = { name: 'smtp', match: { ports: 25 }, action: forward };
  t.same(warnings([smtp]), [], 'alone: piped as TCP');
  t.same(warnings([smtp, { name: 'web', match: { ports: 25, domains: 'w.test' }, action: forward }]), ['protocol smtp <- web 25']);
  t.same(warnings([smtp, { name: 'page', match: { ports: 25, path: '/x' }, action: { type: 'static', static: {} } }]), ['protocol smtp <- page 25']);
  t.same(warnings([smtp, { name: 'web', match: { ports: 26, domains: 'w.test' }, action: forward }]), [], 'other port');
  t.same(warnings([{ name: 'deny', match: { ports: 25 }, action: { type: 'block' } }, { name: 'web', match: { ports: 25, domains: 'w.test' }, action: forward }]), [], 'a bare block is refused either way');
  t.same(
    warnings([smtp, { name: 'tls', match: { ports: 25, domains: 't.test' }, action: { ...forward, tls: { mode: 'passthrough' } } }]),
    [],
    'TLS routes beside it: plain connections still go straight to the TCP route',
  );
  t.same(warnings([{ name: 'office', match: { ports: 25, clientIp: ['10.0.0.0/8'] }, action: forward }, { name: 'rest', match: { ports: 25 }, action: forward }]), [], 'two TCP routes');

  const challenge: InternalRoute = {
    config: { name: 'smartproxy:acme-challenge', priority: Number.MAX_SAFE_INTEGER, match: { ports: 25, path: '/.well-known/acme-challenge/*' }, action: { type: 'static' } },
    requestHandler: (_req, res) => res.end(),
  };
  const [warning] = routeWarnings(new RouteManager().prepare([smtp], [challenge]).table);
  t.match(warning, { kind: 'protocol', route: 'smtp', by: 'smartproxy:acme-challenge', port: 25 }, 'the ACME challenge route turns the port into HTTP while it is there');
  t.match(warning?.message, /the proxy's own route/);
});

t.test('redirect-loop: a redirect to the URL it was asked for', async (t) => {
  const redirect = (name: string, ports: number, to: string, extra: Partial<IRouteConfig['match']> = {}): IRouteConfig => ({ name, match: { ports, ...extra }, action: { type: 'redirect', redirect: { to } } });
  t.same(warnings([redirect('loop', 80, 'http://{domain}{path}')]), ['redirect-loop loop 80']);
  t.same(warnings([redirect('loop', 80, 'http://{domain}:80{path}?{query}')]), ['redirect-loop loop 80']);
  t.same(warnings([redirect('loop', 8080, 'http://{domain}:{port}{path}')]), ['redirect-loop loop 8080']);
  t.same(warnings([redirect('loop', 8080, '{path}')]), ['redirect-loop loop 8080'], 'relative');
  t.same(warnings([redirect('loop', 8080, '/old', { path: '/old' })]), ['redirect-loop loop 8080'], 'its own exact path');
  t.same(warnings([redirect('loop', 80, 'http://a.test{path}', { domains: 'a.test' })]), ['redirect-loop loop 80'], 'its only host name');
  t.same(warnings([redirect('up', 80, 'https://{domain}{path}')]), [], 'to https');
  t.same(warnings([redirect('other-port', 8080, 'http://{domain}{path}')]), [], 'to port 80 from 8080');
  t.same(warnings([redirect('moved', 80, 'http://{domain}/new{path}')]), [], 'another path');
  t.same(warnings([redirect('host', 80, 'http://www.a.test{path}', { domains: 'a.test' })]), [], 'another host');
  t.same(warnings([redirect('new', 8080, '/new', { path: '/old' })]), []);
  const tlsLoop: IRouteConfig = {
    name: 'tls-loop',
    match: { ports: 443, domains: 'a.test' },
    action: { type: 'redirect', redirect: { to: 'https://{domain}{path}' }, tls: { mode: 'terminate', certificate: 'auto' } },
  };
  t.same(warnings([tlsLoop]), ['redirect-loop tls-loop 443'], 'https to itself on a terminating route');
});
