// Each shadowing rule, both ways: the route that can never win is flagged,
// naming its winner; the look-alike that does win somewhere is not. Then a
// seeded random check against the matcher itself: no route the graph calls
// shadowed is ever chosen by RouteIndex.match for any probe request.
import t from 'tap';
import type { IRouteConfig, IRouteMatch } from '../ts/index.js';
import { RouteManager } from '../ts/routing/route-manager.js';
import { routeWarnings } from '../ts/routing/route-graph.js';
import { prng } from './helpers/prng.js';

const forward = { type: 'forward' as const, target: { host: '127.0.0.1', port: 9 } };

function route(name: string, match: Partial<IRouteMatch>, priority?: number): IRouteConfig {
  return { name, ...(priority === undefined ? {} : { priority }), match: { ports: 8080, ...match }, action: forward };
}

/** `shadowed route ← winner` pairs the graph reports. */
function shadowed(routes: IRouteConfig[]): string[] {
  const table = new RouteManager().prepare(routes).table;
  return routeWarnings(table)
    .filter((w) => w.kind === 'shadowed')
    .map((w) => `${w.route} <- ${w.by}`)
    .sort();
}

t.test('identical matches: the later one, or the one with lower priority, is shadowed', async (t) => {
  t.same(shadowed([route('a', { domains: 'a.test' }), route('b', { domains: 'a.test' })]), ['b <- a']);
  t.same(shadowed([route('a', { domains: 'a.test' }), route('b', { domains: 'A.test' }, 1)]), ['a <- b'], 'case folds; priority beats order');
  t.same(shadowed([route('a', { domains: ['x.test', 'a.test'] }), route('b', { domains: ['a.test', 'x.test'] })]), ['b <- a'], 'domain order does not matter');
  t.same(shadowed([route('a', {}), route('b', { domains: '*' })]), ['b <- a'], "no domains and '*' are the same catch-all");
  t.same(shadowed([route('a', { domains: 'a.test' }), route('b', { domains: 'a.test', path: '/x' })]), [], 'a path makes the later route more specific');
  t.same(shadowed([route('a', { domains: 'a.test', ports: 8080 }), route('b', { domains: 'a.test', ports: 8081 })]), [], 'other ports are never compared');
});

t.test('a catch-all above a specific domain', async (t) => {
  t.same(shadowed([route('all', {}, 10), route('site', { domains: 'site.test' })]), ['site <- all']);
  t.same(shadowed([route('all', {}), route('site', { domains: 'site.test' })]), [], 'same priority: the specific domain wins');
  t.same(shadowed([route('all', { path: '/*' }, 10), route('site', { domains: 'site.test' })]), [], "a catch-all with a path does not take 'OPTIONS *' or other non-path targets");
  t.same(shadowed([route('all', { path: '/*' }, 10), route('site', { domains: 'site.test', path: '/app' })]), ['site <- all'], "'/*' takes every path");
});

t.test('wildcards and globs', async (t) => {
  t.same(shadowed([route('wild', { domains: '*.example.test' }, 1), route('deep', { domains: 'a.b.example.test' })]), ['deep <- wild'], 'wildcards match any depth');
  t.same(shadowed([route('wild', { domains: '*.example.test' }, 1), route('apex', { domains: 'example.test' })]), [], 'a wildcard does not match its apex');
  t.same(shadowed([route('wild', { domains: '*.example.test' }), route('a', { domains: 'a.example.test' })]), [], 'same priority: exact beats wildcard');
  t.same(shadowed([route('wide', { domains: '*.test' }, 1), route('narrow', { domains: '*.example.test' })]), ['narrow <- wide']);
  t.same(shadowed([route('narrow', { domains: '*.example.test' }, 1), route('wide', { domains: '*.test' })]), [], 'the narrower wildcard leaves the rest of the wider one');
  t.same(shadowed([route('glob', { domains: 'api-*.test' }, 1), route('other', { domains: 'api-[0-9].test' })]), [], 'glob against another glob is not decided');
  t.same(shadowed([route('glob', { domains: 'api-*.test' }), route('exact', { domains: 'api-1.test' })]), [], 'same priority: exact beats glob');
  t.same(shadowed([route('g1', { domains: 'api-*.test' }), route('g2', { domains: 'api-*.test' })]), ['g2 <- g1'], 'identical globs');
  t.same(shadowed([route('glob', { domains: 'api-*.test' }, 1), route('exact', { domains: 'api-1.test' })]), ['exact <- glob'], 'a glob above a name it matches');
  t.same(shadowed([route('glob', { domains: 'api-*.test' }, 1), route('exact', { domains: 'web.test' })]), [], 'a glob above a name it does not match');
  t.same(shadowed([route('glob', { domains: 'api-?.test' }, 1), route('exact', { domains: ['api-1.test', 'api-22.test'] })]), [], 'the glob must match every name');
});

t.test('a broader path above a narrower one', async (t) => {
  t.same(shadowed([route('api', { path: '/api/*' }, 1), route('v1', { path: '/api/v1/*' })]), ['v1 <- api']);
  t.same(shadowed([route('api', { path: '/api/*' }), route('v1', { path: '/api/v1/*' })]), [], 'same priority: the longer prefix wins');
  t.same(shadowed([route('v1', { path: '/api/v1/*' }, 1), route('api', { path: '/api/*' })]), [], 'a more specific route with higher priority is never flagged, and leaves the rest');
  t.same(shadowed([route('api', { path: '/api/*' }, 1), route('root', { path: '/api' })]), ['root <- api'], "'/api/*' also takes '/api'");
  t.same(shadowed([route('api', { path: '/api/*' }, 1), route('apix', { path: '/apix' })]), [], "'/apix' is not under '/api/'");
  t.same(shadowed([route('api', { path: '/api/**' }, 1), route('png', { path: '/api/img/*.png' })]), ['png <- api'], 'a glob under the prefix');
  t.same(shadowed([route('api', { path: '/api/*' }, 1), route('odd', { path: '/api*/x' })]), [], "a glob whose literal stops inside the segment ('/api*') is not under '/api/'");
  t.same(shadowed([route('exact', { path: '/a' }, 1), route('b', { path: '/a/*' })]), [], 'an exact path never covers a prefix');
  t.same(shadowed([route('nopath', {}, 1), route('p', { path: '/x/*' })]), ['p <- nopath'], 'no path takes every path');
  t.same(shadowed([route('p', { path: '/x/*' }, 1), route('nopath', { domains: 'a.test' })]), [], 'a pathed route never covers one without a path');
});

t.test('an unrestricted route above one limited by clientIp', async (t) => {
  t.same(shadowed([route('open', { domains: 'a.test' }, 1), route('office', { domains: 'a.test', clientIp: ['10.0.0.0/8'] })]), ['office <- open']);
  t.same(shadowed([route('office', { domains: 'a.test', clientIp: ['10.0.0.0/8'] }, 1), route('open', { domains: 'a.test' })]), [], 'limited route above: the rest of the clients reach the other');
  t.same(shadowed([route('open', { domains: 'a.test', clientIp: ['*'] }, 1), route('office', { domains: 'a.test', clientIp: ['10.0.0.0/8'] })]), ['office <- open'], "'*' is unrestricted");
  t.same(shadowed([route('x', { clientIp: ['10.0.0.0/8', '::1'] }), route('y', { clientIp: ['::1', '10.0.0.0/8'] })]), ['y <- x'], 'same list in another order');
  t.same(shadowed([route('x', { clientIp: ['10.0.0.0/8'] }, 1), route('y', { clientIp: ['10.1.0.0/16'] })]), [], 'CIDR containment is not decided (no false warning)');
  t.same(shadowed([route('x', { clientIp: ['10.0.0.1'] }, 1), route('y', {})]), [], 'a limited route never covers an unrestricted one');
});

t.test('several domains: the winner has to cover all of them', async (t) => {
  t.same(shadowed([route('a', { domains: 'a.test' }, 1), route('ab', { domains: ['a.test', 'b.test'] })]), []);
  t.same(shadowed([route('abc', { domains: ['a.test', 'b.test', 'c.test'] }, 1), route('ab', { domains: ['a.test', 'b.test'] })]), ['ab <- abc']);
  t.same(shadowed([route('abc', { domains: ['a.test', 'b.test', 'c.test'] }), route('ab', { domains: ['b.test', 'a.test'] })]), ['ab <- abc'], 'same priority, a superset of domains and earlier');
  t.same(shadowed([route('ab', { domains: ['a.test', 'b.test'] }), route('a-wild', { domains: ['a.test', '*.b.test'] })]), [], 'a pattern the winner lacks');
});

t.test('per port, per layer: TLS routes and plain routes are matched apart', async (t) => {
  const tls = { type: 'forward' as const, target: { host: '127.0.0.1', port: 9 }, tls: { mode: 'passthrough' as const } };
  const routes: IRouteConfig[] = [
    { name: 'tls-any', priority: 1, match: { ports: 8443 }, action: tls },
    { name: 'plain', match: { ports: 8443, domains: 'a.test' }, action: forward },
    { name: 'tls-a', match: { ports: 8443, domains: 'a.test' }, action: tls },
  ];
  t.same(shadowed(routes), ['tls-a <- tls-any']);
  const multi = [route('one-port', { domains: 'a.test' }, 1), route('two-ports', { domains: 'a.test', ports: [8080, 8081] })];
  const warning = routeWarnings(new RouteManager().prepare(multi).table).find((w) => w.kind === 'shadowed');
  t.same(warning?.ports, [8080], 'flagged only on the port where it loses');
  t.match(warning?.message, /route 'two-ports' can never match on port 8080: route 'one-port'/);
  const range = [route('wide', { ports: { from: 9000, to: 9099 } }, 1), route('site', { ports: { from: 9000, to: 9099 }, domains: 'a.test' })];
  const merged = routeWarnings(new RouteManager().prepare(range).table).filter((w) => w.kind === 'shadowed');
  t.equal(merged.length, 1, 'one warning for a route shadowed on a hundred ports');
  t.match(merged[0]?.message, /on 100 ports \(9000-9099\)/);
});

t.test('no route the graph calls shadowed is ever chosen by the matcher (seeded)', async (t) => {
  const seed = Number(process.env.GRAPH_SEED ?? 18);
  const random = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const domainChoices = [undefined, '*', 'a.test', 'b.test', '*.test', '*.a.test', 'x.a.test', 'api-*.test', 'api-1.test', ['a.test', 'b.test'], ['*.a.test', 'a.test'], ['api-*.test', 'b.test']];
  const pathChoices = [undefined, '/*', '/api/*', '/api/v1/*', '/api', '/api/v1/x', '/api/*.json', '/other'];
  const ipChoices = [undefined, ['127.0.0.1'], ['10.0.0.0/8'], ['*']];
  const probesDomains = [undefined, 'a.test', 'b.test', 'x.a.test', 'y.x.a.test', 'api-1.test', 'api-2.test', 'c.test', 'other.example'];
  const probePaths = ['/', '*', '/api', '/api/', '/api/v1', '/api/v1/x', '/api/v2/y.json', '/api/v1/z.json', '/other', '/x'];
  const probeIps = ['127.0.0.1', '10.1.2.3', '192.168.0.1'];
  let flagged = 0;
  for (let round = 0; round < 300; round++) {
    const routes: IRouteConfig[] = [];
    const count = 2 + Math.floor(random() * 6);
    for (let i = 0; i < count; i++) {
      const domains = pick(domainChoices);
      const path = pick(pathChoices);
      const clientIp = pick(ipChoices);
      const match: IRouteMatch = { ports: 8080, ...(domains && { domains }), ...(path && { path }), ...(clientIp && { clientIp }) };
      routes.push({ name: `r${i}`, priority: Math.floor(random() * 3), match, action: forward });
    }
    const table = new RouteManager().prepare(routes).table;
    const index = table.ports.get(8080)!.http!;
    for (const warning of routeWarnings(table).filter((w) => w.kind === 'shadowed')) {
      flagged++;
      for (const domain of probesDomains) {
        for (const path of probePaths) {
          for (const ip of probeIps) {
            const winner = index.match(domain, path, ip)?.name;
            if (winner === warning.route) {
              t.fail(`seed ${seed} round ${round}: ${warning.route} flagged (${warning.message}) but wins ${domain} ${path} ${ip}\n${JSON.stringify(routes)}`);
              return;
            }
          }
        }
      }
    }
  }
  t.ok(flagged > 50, `${flagged} shadowed routes checked against the matcher`);
});
