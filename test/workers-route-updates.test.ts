// The workers option, route generations: updateRoutes() resolves only once
// every worker serves the new table, a refused update leaves every worker
// on the old one, a route holding a function is refused by name, and a TLS
// route added at runtime is terminated by every worker.
import t from 'tap';
import http from 'node:http';
import { createCertificateAuthority, createSelfSignedCertificate, RouteValidationError, type IRouteConfig } from '../ts/index.js';
import { startHttpBackend } from './helpers/backends.js';
import { httpsGet } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';
import { servedBetween, startWorkerProxy, workerCounters } from './helpers/workers.js';

function route(name: string, port: number, path: string, target: number): IRouteConfig {
  return { name, match: { ports: port, path }, action: { type: 'forward', target: { host: '127.0.0.1', port: target } } };
}

function get(port: number, path: string): Promise<{ status: number; backend: string | undefined }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host: 'w.test' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, backend: res.headers['x-backend'] as string | undefined }));
    });
    req.on('error', () => resolve({ status: 0, backend: undefined }));
  });
}

t.test('every worker serves a new route 0 ms after updateRoutes() resolves: 200 of 200', { timeout: 60_000 }, async (t) => {
  const oldApp = await startHttpBackend('old');
  const newApp = await startHttpBackend('new');
  t.teardown(() => oldApp.close());
  t.teardown(() => newApp.close());
  const port = await getFreePort();
  const proxy = await startWorkerProxy(t, [route('old', port, '/*', oldApp.port)]);
  for (let round = 0; round < 2; round++) {
    const path = `/new-${round}`;
    const before = await workerCounters(proxy);
    await proxy.updateRoutes([route(`new-${round}`, port, path, newApp.port), route('old', port, '/*', oldApp.port)]);
    // No await between the update and the first request. Ten waves of twenty, not 200 at once: the workers
    // accept from one shared socket, and a single burst can go mostly to whichever worker the kernel ran first.
    const results = await Promise.all(Array.from({ length: 20 }, () => get(port, path)));
    for (let wave = 1; wave < 10; wave++) results.push(...(await Promise.all(Array.from({ length: 20 }, () => get(port, path)))));
    t.equal(results.filter((r) => r.status === 200 && r.backend === 'new').length, 200, `round ${round}: 200 of 200 reach the new route`);
    const served = servedBetween(before, await workerCounters(proxy, before.reduce((s, w) => s + w.totalConnections, 0) + 200));
    t.ok([...served.values()].every((n) => n >= 50), `round ${round}: both workers took part (${[...served.values()].join(', ')})`);
  }
});

t.test('a refused update leaves every worker on the old table', async (t) => {
  const app = await startHttpBackend('app');
  t.teardown(() => app.close());
  const port = await getFreePort();
  const proxy = await startWorkerProxy(t, [route('app', port, '/*', app.port)]);
  const invalid = [route('app', port, '/*', app.port), { name: 'bad', match: { ports: port }, action: { type: 'forward' } } as IRouteConfig];
  await t.rejects(proxy.updateRoutes(invalid), RouteValidationError, 'an invalid route is refused');
  const handler: IRouteConfig = { name: 'raw', match: { ports: port, path: '/raw' }, action: { type: 'socket-handler', socketHandler: (socket) => void socket.end('hi') } };
  const refused = await proxy.updateRoutes([route('app', port, '/*', app.port), handler]).then(() => undefined, (e: unknown) => e);
  t.ok(refused instanceof RouteValidationError, 'a socketHandler cannot cross into a worker: refused');
  t.equal((refused as RouteValidationError).code, 'ERR_ROUTE_VALIDATION');
  t.match((refused as RouteValidationError).errors[0], { route: 'raw', path: 'action.socketHandler', message: /function.*worker processes/ });
  const results = await Promise.all(Array.from({ length: 20 }, () => get(port, '/raw')));
  t.equal(results.filter((r) => r.status === 200 && r.backend === 'app').length, 20, 'both workers still serve the old table');
  t.same(proxy.getRoutes().map((r) => r.name), ['app'], 'the control plane too');
});

t.test('a TLS route added at runtime is terminated by every worker', async (t) => {
  const ca = createCertificateAuthority('workers test CA');
  const certificate = createSelfSignedCertificate({ domains: ['tls.test'], issuer: ca });
  const app = await startHttpBackend('app');
  t.teardown(() => app.close());
  const [plainPort, tlsPort] = [await getFreePort(), await getFreePort()];
  const proxy = await startWorkerProxy(t, [route('plain', plainPort, '/*', app.port)]);
  await proxy.updateRoutes([
    route('plain', plainPort, '/*', app.port),
    { name: 'tls', match: { ports: tlsPort, domains: 'tls.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: app.port }, tls: { mode: 'terminate', certificate } } },
  ]);
  const before = await workerCounters(proxy);
  // Four at a time: a burst of twenty on the workers' shared socket can all go to one of them.
  const results: Awaited<ReturnType<typeof httpsGet>>[] = [];
  for (let wave = 0; wave < 5; wave++) results.push(...(await Promise.all(Array.from({ length: 4 }, () => httpsGet(tlsPort, { servername: 'tls.test', ca: ca.cert })))));
  t.equal(results.filter((r) => r.status === 200 && r.subject === 'tls.test').length, 20, '20 of 20 verified TLS requests answered');
  const served = servedBetween(before, await workerCounters(proxy, before.reduce((s, w) => s + w.totalConnections, 0) + 20));
  t.same([...served.values()].map((n) => n >= 2), [true, true], `both workers terminated some (${[...served.values()].join(', ')})`);
});
