// Which route wins: priority, then domain specificity (exact > longer
// wildcard > glob > any), then path specificity, then the order given.
import t from 'tap';
import { RouteManager } from '../ts/routing/route-manager.js';
import { normaliseHostname } from '../ts/routing/domain-matcher.js';
import type { IRouteConfig } from '../ts/index.js';

const port = 8080;

/** A forward route named `name`; `match` adds domains, path, clientIp. */
function route(name: string, match: Omit<IRouteConfig['match'], 'ports'>, priority?: number): IRouteConfig {
  return { name, priority, match: { ports: port, ...match }, action: { type: 'forward', target: { host: '127.0.0.1', port: 9 } } };
}

/** Matches as the HTTP handler does: Host normalised (case, port, trailing dot), path without query. */
function matcher(routes: IRouteConfig[]) {
  const index = new RouteManager().prepare(routes).table.ports.get(port)!.http!;
  return (host: string | undefined, path = '/', clientIp = '127.0.0.1') => index.match(normaliseHostname(host), path, clientIp)?.name;
}

t.test('domain specificity: exact > longer wildcard > shorter wildcard > glob > any', async (t) => {
  const match = matcher([
    route('any', {}),
    route('star', { domains: '*' }),
    route('glob', { domains: 'api-*.example.com' }),
    route('wild', { domains: '*.example.com' }),
    route('wild-long', { domains: '*.eu.example.com' }),
    route('exact', { domains: 'api-1.eu.example.com' }),
  ]);
  t.equal(match('api-1.eu.example.com'), 'exact');
  t.equal(match('api-2.eu.example.com'), 'wild-long', 'a longer wildcard beats a shorter one and a glob');
  t.equal(match('api-2.example.com'), 'wild', 'a wildcard beats a glob');
  t.equal(match('other.test'), 'any', "domain-less and '*' rank alike; the first given wins");
  t.equal(match(undefined), 'any', 'no Host: only domain-less routes');
});

t.test('a glob beats a catch-all', async (t) => {
  const match = matcher([route('any', {}), route('glob', { domains: 'api-*.example.com' })]);
  t.equal(match('api-7.example.com'), 'glob');
  t.equal(match('web.example.com'), 'any');
});

t.test('priority beats domain specificity', async (t) => {
  const match = matcher([route('exact', { domains: 'a.example.com' }), route('urgent', {}, 10), route('low', { domains: 'b.example.com' }, -1)]);
  t.equal(match('a.example.com'), 'urgent');
  t.equal(match('b.example.com'), 'urgent');
  t.equal(matcher([route('exact', { domains: 'a.example.com' }, 2), route('wild', { domains: '*.example.com' }, 3)])('a.example.com'), 'wild');
});

t.test('path specificity, then order', async (t) => {
  const match = matcher([
    route('root', { domains: 'a.test' }),
    route('api', { domains: 'a.test', path: '/api/*' }),
    route('api-v1', { domains: 'a.test', path: '/api/v1/*' }),
    route('health', { domains: 'a.test', path: '/api/health' }),
    route('api-again', { domains: 'a.test', path: '/api/*' }),
  ]);
  t.equal(match('a.test', '/'), 'root');
  t.equal(match('a.test', '/api/x'), 'api', 'the first of two equal routes wins');
  t.equal(match('a.test', '/api/v1/users'), 'api-v1', 'the longer prefix wins');
  t.equal(match('a.test', '/api/health'), 'health', 'an exact path beats every glob');
  t.equal(match('a.test', '/api/healthz'), 'api');
});

t.test('domain specificity outranks path specificity', async (t) => {
  const match = matcher([route('wild-path', { domains: '*.test', path: '/api/*' }), route('exact', { domains: 'a.test' })]);
  t.equal(match('a.test', '/api/x'), 'exact');
  t.equal(match('b.test', '/api/x'), 'wild-path');
  t.equal(match('b.test', '/other'), undefined);
});

t.test("prefix paths: '/api/*' matches '/api', '/api/', '/api/x/y', not '/apix'", async (t) => {
  const match = matcher([route('api', { path: '/api/*' })]);
  for (const path of ['/api', '/api/', '/api/x', '/api/x/y']) t.equal(match('a.test', path), 'api', path);
  for (const path of ['/apix', '/ap', '/', '/v1/api/x']) t.equal(match('a.test', path), undefined, path);
  const glob = matcher([route('png', { path: '/img/*.png' })]);
  t.equal(glob('a.test', '/img/a.png'), 'png');
  t.equal(glob('a.test', '/img/a/b.png'), undefined, 'a glob star that is not a trailing prefix stays within one segment');
  t.equal(matcher([route('exact', { path: '/exact' })])('a.test', '/exact/'), undefined, 'an exact path is exact');
});

t.test('wildcards match subdomains of any depth, not the bare domain', async (t) => {
  const match = matcher([route('wild', { domains: '*.example.com' })]);
  t.equal(match('a.example.com'), 'wild');
  t.equal(match('a.b.c.example.com'), 'wild');
  t.equal(match('example.com'), undefined);
  t.equal(match('badexample.com'), undefined);
});

t.test('case-insensitive, Host with a port, trailing dot', async (t) => {
  const match = matcher([route('exact', { domains: 'Api.Example.COM' }), route('wild', { domains: '*.EXAMPLE.org' })]);
  t.equal(match('api.example.com'), 'exact');
  t.equal(match('API.EXAMPLE.COM'), 'exact');
  t.equal(match('api.example.com:8080'), 'exact');
  t.equal(match('Api.Example.Com.:443'), 'exact');
  t.equal(match('X.Example.ORG:1'), 'wild');
  const v6 = matcher([route('any', { path: '/*' })]);
  t.equal(v6('[::1]:8080'), 'any');
});

t.test('clientIp conditions fall through to the next best route', async (t) => {
  const match = matcher([
    route('office', { domains: 'a.test', clientIp: ['10.0.0.0/8'] }, 5),
    route('v6', { domains: 'a.test', clientIp: ['2001:db8::/32'] }),
    route('exact', { domains: 'a.test', path: '/admin/*', clientIp: ['192.168.1.1'] }),
    route('wild', { domains: '*.test' }),
    route('any', { clientIp: ['172.16.0.0/12'] }),
  ]);
  t.equal(match('a.test', '/', '10.1.2.3'), 'office');
  t.equal(match('a.test', '/', '::ffff:10.1.2.3'), 'office', 'IPv4-mapped IPv6 matches IPv4 rules');
  t.equal(match('a.test', '/', '2001:db8::1'), 'v6');
  t.equal(match('a.test', '/admin/x', '192.168.1.1'), 'exact');
  t.equal(match('a.test', '/admin/x', '192.168.1.2'), 'wild', 'falls through to a wildcard');
  t.equal(match('other', '/', '172.16.5.5'), 'any');
  t.equal(match('other', '/', '127.0.0.1'), undefined);
});

t.test('a route listing one domain twice, or several domains, is one route', async (t) => {
  const table = new RouteManager().prepare([route('multi', { domains: ['a.test', 'A.test', '*.b.test', '*.B.TEST'] })]).table;
  const index = table.ports.get(port)!.http!;
  t.equal(index.routes.length, 1);
  t.equal(index.match('a.test', '/', '127.0.0.1')?.name, 'multi');
  t.equal(index.match('x.b.test', '/', '127.0.0.1')?.name, 'multi');
  t.equal(table.refCount(port), 1);
});

t.test('ports are expanded and deduplicated, one table per port', async (t) => {
  const table = new RouteManager().prepare([
    { name: 'r', match: { ports: [8000, { from: 8001, to: 8003 }, 8002] }, action: { type: 'forward', target: { host: 'h', port: 'preserve' } } },
  ]).table;
  t.same(table.portNumbers(), [8000, 8001, 8002, 8003]);
  t.same(table.routes[0]!.ports, [8000, 8001, 8002, 8003]);
  for (const p of table.portNumbers()) t.equal(table.refCount(p), 1);
});
