// The route graph on a running proxy: the protocol warning when an HTTP
// route joins a port holding a bare TCP forward (and the forward really
// stops working), shadowed routes named at warn before any traffic, each
// warning logged once, and the binding relationships in the logs.
import t from 'tap';
import { pino } from 'pino';
import { SmartProxy, type IRouteConfig } from '../ts/index.js';
import { startEchoBackend, tcpExchange } from './helpers/backends.js';
import { getFreePort } from './helpers/free-port.js';

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A debug-level pino logger that keeps every line. */
function capturingLogger() {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines, warnings: () => lines.filter((l) => l.level === 40) };
}

/** The update's log lines are written just after updateRoutes() resolves. */
const logged = () => new Promise((resolve) => setImmediate(resolve));

const forwardTo = (port: number) => ({ type: 'forward' as const, target: { host: '127.0.0.1', port } });

t.test('an HTTP route joining a bare TCP forward: a protocol warning, logged once, and the banner really stops', async (t) => {
  const echo = await startEchoBackend('relay');
  t.teardown(() => echo.close());
  const port = await getFreePort();
  const log = capturingLogger();
  const relay: IRouteConfig = { name: 'relay', match: { ports: port }, action: forwardTo(echo.port) };
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: log.logger, routes: [relay] });
  await proxy.start();
  await logged();
  t.teardown(() => proxy.stop());

  const alone = proxy.getRouteGraph();
  t.same(alone.ports, [{ port, refCount: 1, listening: true, mode: 'tcp', routes: [{ name: 'relay', internal: false, order: 0, priority: 0, layer: 'tcp' }] }]);
  t.same(alone.warnings, []);
  t.equal(await tcpExchange(port, '', 300), 'relay:', 'alone on its port, the server speaks first');

  const web: IRouteConfig = { name: 'web', match: { ports: port, domains: 'web.test' }, action: forwardTo(echo.port) };
  await proxy.updateRoutes([relay, web]);
  await logged();
  const graph = proxy.getRouteGraph();
  t.equal(graph.ports[0]?.mode, 'http');
  t.same(graph.ports[0]?.routes.map((r) => r.name), ['web', 'relay'], 'tried in match order: the domain route first');
  t.equal(graph.warnings.length, 1);
  t.match(graph.warnings[0], { kind: 'protocol', route: 'relay', by: 'web', port, ports: [port] });
  t.match(graph.warnings[0]?.message, /parsed as HTTP/);
  const warned = log.warnings().filter((l) => l.kind === 'protocol');
  t.equal(warned.length, 1, 'logged at warn when the update applied');
  t.match(warned[0], { route: 'relay', by: 'web', ports: [port] });
  t.equal(await tcpExchange(port, '', 300), '', 'what the warning says: the banner no longer reaches the client');

  await proxy.updateRoutes([relay, web]);
  await logged();
  t.equal(log.warnings().filter((l) => l.kind === 'protocol').length, 1, 'the same warning is not logged again');
  await proxy.updateRoutes([relay]);
  await logged();
  await proxy.updateRoutes([relay, web]);
  await logged();
  t.equal(log.warnings().filter((l) => l.kind === 'protocol').length, 2, 'gone and back: told again');
});

t.test('a route that can never match is named at warn when it is added, before any traffic', async (t) => {
  const port = await getFreePort();
  const log = capturingLogger();
  const api: IRouteConfig = { name: 'api', priority: 1, match: { ports: port, path: '/api/*' }, action: { type: 'static', static: { body: 'api' } } };
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: log.logger, routes: [api] });
  await proxy.start();
  await logged();
  t.teardown(() => proxy.stop());
  const v1: IRouteConfig = { name: 'api-v1', match: { ports: port, path: '/api/v1/*' }, action: { type: 'static', static: { body: 'v1' } } };
  await proxy.updateRoutes([api, v1]);
  await logged();
  const warned = log.warnings().find((l) => l.kind === 'shadowed');
  t.match(warned, { route: 'api-v1', by: 'api', ports: [port] });
  t.match(warned?.msg, /route 'api-v1' can never match on port \d+: route 'api'/);
  t.match(proxy.getRouteGraph().warnings, [{ kind: 'shadowed', route: 'api-v1', by: 'api', port }]);

  // The fix: a more specific route with the higher priority is not flagged.
  await proxy.updateRoutes([api, { ...v1, priority: 2 }]);
  await logged();
  t.same(proxy.getRouteGraph().warnings, []);
  t.same(proxy.getRouteGraph().ports[0]?.routes.map((r) => r.name), ['api-v1', 'api']);
});

t.test('before start() and after stop(): the graph of the given routes, nothing listening', async (t) => {
  const port = await getFreePort();
  const proxy = new SmartProxy({
    host: '127.0.0.1',
    logger: pino({ level: 'silent' }),
    routes: [
      { name: 'all', priority: 5, match: { ports: port }, action: { type: 'block' } },
      { name: 'site', match: { ports: port, domains: 'site.test' }, action: { type: 'static', static: {} } },
    ],
  });
  const before = proxy.getRouteGraph();
  t.match(before.ports, [{ port, refCount: 2, listening: false, mode: 'http' }]);
  t.match(before.warnings.find((w) => w.kind === 'shadowed'), { route: 'site', by: 'all' }, 'told before start()');
  await proxy.start();
  await logged();
  t.equal(proxy.getRouteGraph().ports[0]?.listening, true);
  await proxy.stop();
  t.equal(proxy.getRouteGraph().ports[0]?.listening, false);
});

t.test('binding relationships in the logs: ports gained and lost at debug, counts at info', async (t) => {
  const [p1, p2] = [await getFreePort(), await getFreePort()];
  const log = capturingLogger();
  const route = (name: string, port: number): IRouteConfig => ({ name, match: { ports: port, domains: `${name}.test` }, action: { type: 'static', static: {} } });
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: log.logger, routes: [route('a', p1), route('b', p1)] });
  await proxy.start();
  await logged();
  t.teardown(() => proxy.stop());
  log.lines.length = 0;
  await proxy.updateRoutes([route('a', p1), route('c', p2)]);
  await logged();

  const info = log.lines.filter((l) => l.level === 30 && l.msg.startsWith('routes applied'));
  t.equal(info.length, 1, 'one info line per update');
  t.match(info[0], { routes: 2, internalRoutes: 0, ports: 2, portsGained: 1, portsLost: 0, warnings: 0 });
  const summary = log.lines.find((l) => l.level === 20 && l.msg.startsWith('port bindings'));
  t.match(summary, { gained: [p2], lost: [], changed: [p1] });
  t.match(log.lines.find((l) => l.port === p2 && l.change !== undefined), { change: 'gained', mode: 'http', refCount: 1, routes: ['c'] });
  t.match(log.lines.find((l) => l.port === p1 && l.change !== undefined), { change: 'changed', refCount: 1, routes: ['a'] });

  log.lines.length = 0;
  await proxy.updateRoutes([route('c', p2)]);
  await logged();
  t.match(log.lines.find((l) => l.msg.startsWith('port bindings')), { gained: [], lost: [p1] });
  t.match(log.lines.find((l) => l.port === p1 && l.change !== undefined), { change: 'lost', refCount: 0 });
  t.match(log.lines.find((l) => l.msg.startsWith('routes applied')), { portsLost: 1 });
});
