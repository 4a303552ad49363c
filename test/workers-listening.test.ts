// The workers option, listening: connections spread over every worker,
// the port stays the control plane's (PortInUseError for another program's
// port), and stop() leaves neither a process nor a port behind.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { PortInUseError, type IRouteConfig } from '../ts/index.js';
import { startHttpBackend } from './helpers/backends.js';
import { getFreePort } from './helpers/free-port.js';
import { eventually } from './helpers/data-path.js';
import { getStatus, isAlive, reusePortSupported, servedBetween, startWorkerProxy, workerCounters, workerPids } from './helpers/workers.js';
import { SmartProxy } from '../ts/index.js';
import { silentLogger } from './helpers/backends.js';

function forward(name: string, port: number, target: number, extra: Partial<IRouteConfig['match']> = {}): IRouteConfig {
  return { name, match: { ports: port, ...extra }, action: { type: 'forward', target: { host: '127.0.0.1', port: target } } };
}

async function getMany(port: number, count: number, concurrency: number, path = '/'): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        statuses.push(await getStatus(port, path));
      }
    }),
  );
  return statuses;
}

t.test('two workers share 2,000 new connections, each at least a quarter', { timeout: 120_000 }, async (t) => {
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const port = await getFreePort();
  const proxy = await startWorkerProxy(t, [forward('app', port, backend.port, { path: '/*' })]);
  const before = await workerCounters(proxy);
  t.equal(before.length, 2, 'two live workers');
  const statuses = await getMany(port, 2000, 16);
  t.equal(statuses.filter((s) => s === 200).length, 2000, 'every request answered 200');
  const after = await workerCounters(proxy, 2000);
  const served = servedBetween(before, after);
  const shares = [...served.values()];
  t.equal(shares.reduce((a, b) => a + b, 0), 2000, `the workers' counters add up to 2,000 (${shares.join(' + ')})`);
  for (const [pid, count] of served) t.ok(count >= 500, `worker ${pid} served ${count} of 2,000 (>= 25 %)`);
  // A request is counted when its exchange ends, which can be a report (250 ms) after its connection was.
  await eventually(() => proxy.getMetrics().requests >= 2000, 2000);
  const metrics = proxy.getMetrics();
  t.ok(metrics.requests >= 2000, `group totals sum the workers (${metrics.requests} requests)`);
  t.ok(metrics.routes.app!.requests >= 2000, 'per-route counters are summed too');
});

t.test("another program's port is still a PortInUseError with workers, and nothing is left running", async (t) => {
  const port = await getFreePort();
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
  t.teardown(() => holder.close());
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), workers: 2, routes: [forward('held', port, 1)] });
  const error = await proxy.start().then(() => undefined, (e: unknown) => e);
  t.ok(error instanceof PortInUseError, `PortInUseError (${String(error)})`);
  t.equal((error as PortInUseError).port, port);
  t.same(workerPids(process.pid), [], 'a failed start() leaves no worker process');
});

t.test('with SO_REUSEPORT, a port another program holds with reusePort is still a PortInUseError', { skip: reusePortSupported() ? false : 'this Node has no reusePort (needs 22.12 / 23.1 on Linux)' }, async (t) => {
  const port = await getFreePort();
  const holder = net.createServer();
  // Typed by @types/node 20, which predates reusePort; Node 22.12+ reads it.
  await new Promise<void>((resolve) => holder.listen({ port, host: '127.0.0.1', reusePort: true } as net.ListenOptions, resolve));
  t.teardown(() => holder.close());
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), workers: 2, routes: [forward('held', port, 1)] });
  const error = await proxy.start().then(() => undefined, (e: unknown) => e);
  t.ok(error instanceof PortInUseError, `PortInUseError, not a silent join (${String(error)})`);
  t.same(workerPids(process.pid), [], 'no worker process left');
});

t.test('stop() drains every worker and leaves no process and no port behind', async (t) => {
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const port = await getFreePort();
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), workers: 2, routes: [forward('app', port, backend.port, { path: '/*' })] });
  await proxy.start();
  t.equal(await getStatus(port), 200);
  const pids = workerPids(process.pid);
  t.equal(pids.length, 2, 'two worker processes');
  await proxy.stop({ drainTimeoutMs: 500 });
  t.same(pids.filter(isAlive), [], 'every worker process has exited');
  t.same(workerPids(process.pid), [], 'no worker process is left');
  const free = net.createServer();
  await new Promise<void>((resolve, reject) => {
    free.once('error', reject);
    free.listen(port, '127.0.0.1', resolve);
  });
  free.close();
  t.pass('the port is free again');
});

t.test("a metrics route, whichever worker serves it, shows the group's totals", { timeout: 60_000 }, async (t) => {
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const [port, metricsPort] = [await getFreePort(), await getFreePort()];
  await startWorkerProxy(t, [forward('app', port, backend.port, { path: '/*' }), { name: 'metrics', match: { ports: metricsPort, path: '/metrics' }, action: { type: 'metrics' } }]);
  const statuses = await getMany(port, 100, 4);
  t.equal(statuses.filter((s) => s === 200).length, 100);
  const appRequests = async () => {
    const text = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: metricsPort, path: '/metrics', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    return Number(/^smartproxy_route_requests_total\{route="app"\} (\d+)$/m.exec(text)?.[1] ?? -1);
  };
  // Two scrapes in a row reach both workers; each must report both workers' requests (pushed every second).
  const ok = await eventually(async () => (await appRequests()) === 100 && (await appRequests()) === 100, 5000);
  t.ok(ok, 'both workers report 100 app requests: the sum over the workers, not their own share');
});
