// updateRoutes() captures the routes when it is called: the caller editing
// its objects afterwards (before or after the update applies) changes nothing,
// and validation judges the routes as they were given.
import t from 'tap';
import { RouteValidationError, type IRouteConfig } from '../ts/index.js';
import { httpGet, startHttpBackend } from './helpers/backends.js';
import { startProxy } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

t.test('edits after the call do not reach the live table', async (t) => {
  const a = await startHttpBackend('a');
  const b = await startHttpBackend('b');
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const port = await getFreePort();
  const route: IRouteConfig = { name: 'site', match: { ports: port, domains: 'site.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: a.port } } };
  const proxy = await startProxy(t, []);
  const applied = proxy.updateRoutes([route]);
  // Edited while the update is still queued, and again after it applied.
  route.action.target = { host: '127.0.0.1', port: b.port };
  await applied;
  t.equal((await httpGet(port, { host: 'site.test' })).json().name, 'a', 'the route as it was when updateRoutes() was called');
  (route.match as { domains: string }).domains = 'other.test';
  t.equal((await httpGet(port, { host: 'site.test' })).json().name, 'a');
  t.ok(Object.isFrozen(proxy.getRoutes()[0]), 'getRoutes() returns frozen copies');
});

t.test('an invalid route fixed after the call is still rejected: validation sees what was given', async (t) => {
  const port = await getFreePort();
  const proxy = await startProxy(t, []);
  const route = { name: 'bad', match: { ports: 70000 }, action: { type: 'forward', target: { host: '127.0.0.1', port: 1 } } } as IRouteConfig;
  const applied = proxy.updateRoutes([route]);
  (route.match as { ports: number }).ports = port;
  const error = await applied.catch((e: unknown) => e);
  t.ok(error instanceof RouteValidationError);
  t.same(proxy.getListeningPorts(), []);
});
