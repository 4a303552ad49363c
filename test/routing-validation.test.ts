// RouteValidationError lists every problem in one go, each with the route,
// the field and what to do, and nothing is applied.
import t from 'tap';
import { RouteValidationError, SmartProxy, type IRouteConfig, type RouteProblem } from '../ts/index.js';
import { RouteManager } from '../ts/routing/route-manager.js';
import { silentLogger } from './helpers/backends.js';
import { getFreePort } from './helpers/free-port.js';

const target = { host: '127.0.0.1', port: 9 };
const forward = (ports: unknown, extra: Record<string, unknown> = {}) =>
  ({ match: { ports }, action: { type: 'forward', target }, ...extra }) as unknown as IRouteConfig;

function problemsOf(routes: unknown[]): RouteProblem[] {
  try {
    new RouteManager().prepare(routes as IRouteConfig[]);
  } catch (error) {
    if (error instanceof RouteValidationError) return [...error.errors];
    throw error;
  }
  return [];
}

t.test('every problem of every route is listed, with route, path and message', async (t) => {
  const routes = [
    forward(0),
    forward([80, 70000]),
    forward({ from: 9000, to: 8000 }, { name: 'reversed' }),
    forward(80, { name: 'dup' }),
    forward(81, { name: 'dup' }),
    { name: 'no-target', match: { ports: 82 }, action: { type: 'forward' } },
    { name: 'bad-type', match: { ports: 83 }, action: { type: 'proxy' } },
  ];
  let error: unknown;
  try {
    new RouteManager().prepare(routes as unknown as IRouteConfig[]);
  } catch (e) {
    error = e;
  }
  t.type(error, RouteValidationError);
  const e = error as RouteValidationError;
  t.equal(e.code, 'ERR_ROUTE_VALIDATION');
  t.same(
    e.errors.map((p) => [p.route, p.path]),
    [
      ['routes[0]', 'match.ports'],
      ['routes[1]', 'match.ports[1]'],
      ['reversed', 'match.ports'],
      ['dup', 'name'],
      ['no-target', 'action.target'],
      ['bad-type', 'action.type'],
    ],
  );
  t.match(e.errors[0]!.message, /0 is not a port: use an integer from 1 to 65535/);
  t.match(e.errors[1]!.message, /70000 is not a port/);
  t.match(e.errors[2]!.message, /range from 9000 is above to 8000/);
  t.match(e.errors[3]!.message, /duplicate name: routes\[3\] is also called 'dup'/);
  t.match(e.errors[4]!.message, /is required for forward/);
  t.match(e.errors[5]!.message, /should be one of forward, redirect, block, static, socket-handler, metrics, instead got 'proxy'/);
  t.match(e.message, /^6 route problems, nothing was applied: routes\[0\] match\.ports: 0 is not a port/);
  t.match(e.message, /; and 1 more$/, 'the message shows five and counts the rest');
});

t.test('port ranges: bounds, non-integers, shapes', async (t) => {
  t.same(problemsOf([forward({ from: 1, to: 65535 })]), [], 'the full range is fine');
  t.same(problemsOf([forward([{ from: 0, to: 10 }])]).map((p) => p.path), ['match.ports[0]']);
  t.match(problemsOf([forward({ from: 10, to: 65536 })])[0]!.message, /1-65535/);
  t.match(problemsOf([forward(80.5)])[0]!.message, /80\.5 is not a port/);
  t.match(problemsOf([forward('80')])[0]!.message, /should be a port number or a \{from, to\} range/);
  t.match(problemsOf([forward([])])[0]!.message, /at least one port/);
});

t.test('domains and globs', async (t) => {
  const withDomains = (domains: unknown, path?: string) =>
    ({ match: { ports: 80, domains, ...(path ? { path } : {}) }, action: { type: 'forward', target } }) as unknown as IRouteConfig;
  t.same(problemsOf([withDomains(['Example.COM', '*.example.com', 'api-*.example.com', '*'])]), []);
  const problems = problemsOf([withDomains(['bad domain.com', 'a..b', '.lead', 'trail.', '*.[abc.com', 'x].com', 'a[].com', 'ü.com', ''])]);
  t.same(
    problems.map((p) => p.path),
    [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => `match.domains[${i}]`),
  );
  t.match(problems[0]!.message, /'bad domain.com' has characters that cannot be in a host name/);
  t.match(problems[1]!.message, /empty label/);
  t.match(problems[4]!.message, /'\*\.\[abc\.com' has a '\[' that is never closed/);
  t.match(problems[5]!.message, /']' without a matching '\['/);
  t.match(problems[6]!.message, /empty \[\] character class/);
  t.match(problemsOf([withDomains([])])[0]!.message, /non-empty list/);
  t.match(problemsOf([withDomains('x'.repeat(254))])[0]!.message, /at most 253/);

  const paths = (path: string) => problemsOf([withDomains('a.test', path)]);
  t.same(paths('/api/*'), []);
  t.same(paths('/files/{a,b}/*.png'), []);
  t.match(paths('api/*')[0], { path: 'match.path', message: /starting with '\/'/ });
  t.match(paths('/api/[v1')[0]!.message, /'\/api\/\[v1' has a '\[' that is never closed/);
  t.match(paths('/api/{a,b')[0]!.message, /'\{' that is never closed/);
  t.match(paths('/a b')[0]!.message, /whitespace/);
});

t.test("unknown fields are named, with 'did you mean' for near misses", async (t) => {
  const problems = problemsOf([
    {
      name: 'typos',
      priorty: 1,
      match: { prots: 80, domain: 'a.test', clientIP: ['10.0.0.0/8'] },
      action: { type: 'forwrd', target },
      securty: {},
    },
    { match: { ports: 80 }, action: { type: 'forward', target: { host: 'a', port: 1, hots: 'b' } }, zzz: 1 },
  ]);
  const byPath = new Map(problems.map((p) => [`${p.route} ${p.path}`, p.message]));
  t.match(byPath.get('typos priorty'), "is not a known field (did you mean 'priority'?)");
  t.match(byPath.get('typos securty'), "(did you mean 'security'?)");
  t.match(byPath.get('typos match.prots'), "(did you mean 'ports'?)");
  t.match(byPath.get('typos match.domain'), "(did you mean 'domains'?)");
  t.match(byPath.get('typos match.clientIP'), "(did you mean 'clientIp'?)");
  t.match(byPath.get('typos match.ports'), /is required/, 'the field it meant is still reported missing');
  t.match(byPath.get('typos action.type'), "instead got 'forwrd' (did you mean 'forward'?)");
  t.match(byPath.get('routes[1] action.target.hots'), "(did you mean 'host'?)");
  t.equal(byPath.get('routes[1] zzz'), 'is not a known field', 'no suggestion when nothing is close');
});

t.test('action shapes', async (t) => {
  const route = (action: Record<string, unknown>, match: Record<string, unknown> = {}) =>
    ({ name: 'r', match: { ports: 443, ...match }, action }) as unknown as IRouteConfig;
  const one = (action: Record<string, unknown>, match?: Record<string, unknown>) => problemsOf([route(action, match)]);

  const passthroughPath = one({ type: 'forward', target, tls: { mode: 'passthrough' } }, { path: '/api/*' });
  t.same(passthroughPath.map((p) => p.path), ['match.path'], 'passthrough with a path is one problem, reported once');
  t.match(passthroughPath[0]!.message, /passthrough TLS: the proxy never sees the request/);
  t.same(one({ type: 'redirect', redirect: { to: '/' }, tls: { mode: 'passthrough' } }).map((p) => p.message), ['passthrough needs a forward route, not redirect']);
  t.match(one({ type: 'forward', target, tls: { mode: 'terminate' } })[0], { path: 'action.tls.certificate', message: /is required for terminate/ });
  t.match(one({ type: 'forward', target, tls: { mode: 'terminate', certificate: { key: 'garbage', cert: 'garbage' } } }).map((p) => p.path), [
    'action.tls.certificate.key',
    'action.tls.certificate.cert',
  ]);
  t.match(one({ type: 'forward', target: { host: '', port: 'any' } }).map((p) => p.path), ['action.target.host', 'action.target.port']);
  t.match(one({ type: 'block', target })[0]!.message, /only used by forward routes, not block/);
  t.match(one({ type: 'redirect' })[0], { path: 'action.redirect', message: /is required for redirect/ });
  t.match(one({ type: 'redirect', redirect: { to: '/x\r\nSet-Cookie: a=b' } })[0]!.message, /control characters/);
  t.match(one({ type: 'static', static: { status: 99 } })[0]!.path, 'action.static.status');
  t.match(one({ type: 'socket-handler' })[0]!.path, 'action.socketHandler');
  t.match(one({ type: 'socket-handler', socketHandler: () => {} }, { domains: 'a.test' })[0]!.message, /without tls cannot match domains/);
  t.match(problemsOf([{ match: { ports: 1 } }, 42])!.map((p) => [p.route, p.path]), [
    ['routes[0]', 'action'],
    ['routes[1]', ''],
  ]);
});

t.test('a socket handler may not share a port that parses HTTP', async (t) => {
  const problems = problemsOf([
    { name: 'web', match: { ports: 8080, domains: 'a.test' }, action: { type: 'forward', target } },
    { name: 'raw', match: { ports: [8080, 9090] }, action: { type: 'socket-handler', socketHandler: () => {} } },
    { name: 'raw-alone', match: { ports: 9091 }, action: { type: 'socket-handler', socketHandler: () => {} } },
  ]);
  t.same(problems.map((p) => [p.route, p.path]), [['raw', 'match.ports']]);
  t.match(problems[0]!.message, /socket-handler shares port 8080 with HTTP route 'web'/);
});

const garbagePem = {
  key: '-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n',
  cert: '-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n',
};

t.test('a static certificate that looks like PEM but is garbage is a problem at updateRoutes', async (t) => {
  const port = await getFreePort();
  const tlsRoute = (name: string): IRouteConfig => ({
    name,
    match: { ports: port, domains: 'a.test' },
    action: { type: 'forward', target, tls: { mode: 'terminate', certificate: garbagePem } },
  });

  const fresh = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), routes: [] });
  const before = await fresh.updateRoutes([tlsRoute('early')]).catch((e: unknown) => e);
  t.match(before, { code: 'ERR_ROUTE_VALIDATION', errors: [{ route: 'early', path: 'action.tls.certificate', message: /cannot be loaded/ }] }, 'before start()');
  t.same(fresh.getRoutes(), [], 'not stored');
  await fresh.stop();

  const running = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), routes: [forward(port, { name: 'plain' })] });
  await running.start();
  t.teardown(() => running.stop());
  const after = await running.updateRoutes([tlsRoute('late')]).catch((e: unknown) => e);
  t.match(after, { code: 'ERR_ROUTE_VALIDATION', errors: [{ route: 'late', path: 'action.tls.certificate' }] }, 'while running');
  t.same(running.getRoutes().map((r) => r.name), ['plain'], 'old routes still applied');
  t.equal(running.portManager.getPortRefCount(port), 1);
});

t.test('validation failure before start() leaves the stored routes; a valid call stores them', async (t) => {
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), routes: [forward(1234, { name: 'first' })] });
  await t.rejects(proxy.updateRoutes([forward(0)]), { code: 'ERR_ROUTE_VALIDATION' });
  t.same(proxy.getRoutes().map((r) => r.name), ['first']);
  await proxy.updateRoutes([forward(1235, { name: 'second' })]);
  t.same(proxy.getRoutes().map((r) => r.name), ['second']);
  t.same(proxy.getListeningPorts(), [], 'nothing bound before start()');
  await proxy.stop();
});
