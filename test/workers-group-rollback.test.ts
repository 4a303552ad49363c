// The worker group's two-phase route generation, driven directly: a stage
// that any worker refuses is aborted in every worker and rejects with a
// typed error, and the generation before it keeps serving. (Through
// SmartProxy the control plane validates first, so this is the path a
// worker that cannot take a generation, or listen on its port, takes.)
import t from 'tap';
import http from 'node:http';
import { WorkerError, type IRouteConfig } from '../ts/index.js';
import { PortManager } from '../ts/ports/port-manager.js';
import { WorkerGroup } from '../ts/workers/worker-group.js';
import { silentLogger, startHttpBackend } from './helpers/backends.js';
import { getFreePort } from './helpers/free-port.js';

function get(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/', headers: { host: 'w.test' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.headers['x-backend'] as string | undefined));
    }).on('error', () => resolve(undefined));
  });
}

t.test('a generation refused by the workers is aborted everywhere; the previous one keeps serving', { timeout: 60_000 }, async (t) => {
  const logger = await silentLogger();
  const [one, two] = [await startHttpBackend('one'), await startHttpBackend('two')];
  t.teardown(() => one.close());
  t.teardown(() => two.close());
  const port = await getFreePort();
  const group = new WorkerGroup({ count: 2, logger, renderMetrics: () => '', settings: { host: '127.0.0.1', tls: undefined, live: {}, logLevel: 'silent' } });
  await group.start();
  t.teardown(() => group.stop(100));
  const ports = new PortManager({ host: '127.0.0.1', forWorkers: true, logger });
  await ports.addPort(port);
  t.teardown(() => ports.closeAll());
  const listeners = new Map([[port, ports.listenHandle(port)!]]);
  const route = (target: number): IRouteConfig => ({ name: 'app', match: { ports: port, path: '/*' }, action: { type: 'forward', target: { host: '127.0.0.1', port: target } } });

  await (await group.stage([route(one.port)], [], listeners)).commit();
  t.same(await Promise.all([get(port), get(port)]), ['one', 'one'], 'generation 1 served by both workers');
  // Not validated by a control plane here: the workers' own check refuses it.
  const refused = await group.stage([route(two.port), { name: 'bad', match: { ports: port }, action: { type: 'forward' } } as IRouteConfig], [], listeners).then(() => undefined, (e: unknown) => e);
  t.ok(refused instanceof WorkerError, `WorkerError (${String(refused)})`);
  t.same(await Promise.all([get(port), get(port), get(port), get(port)]), ['one', 'one', 'one', 'one'], 'both workers still serve generation 1');
  await (await group.stage([route(two.port)], [], listeners)).commit();
  t.same(await Promise.all([get(port), get(port)]), ['two', 'two'], 'the next generation goes live in both');
});
