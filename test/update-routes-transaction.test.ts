// updateRoutes() is a transaction: a port another application holds fails
// the whole call, and nothing of it stays applied or bound.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { PortInUseError, ProxyStateError, SmartProxy, type IRouteConfig } from '../ts/index.js';
import { httpGet, silentLogger, startEchoBackend, startHttpBackend } from './helpers/backends.js';
import { getFreePort } from './helpers/free-port.js';
import { holdPort, probeBind } from './helpers/port-probe.js';
import { proxyInternals } from '../ts/internals.js';

function web(name: string, port: number, backendPort: number, domain = `${name}.test`): IRouteConfig {
  return { name, match: { ports: port, domains: domain }, action: { type: 'forward', target: { host: '127.0.0.1', port: backendPort } } };
}

async function newProxy(routes: IRouteConfig[]) {
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), routes });
  const events: string[] = [];
  proxy.on('port-bound', ({ port }) => events.push(`bound ${port}`));
  proxy.on('port-released', ({ port }) => events.push(`released ${port}`));
  return { proxy, events };
}

t.test('a port held by another application: PortInUseError naming it, nothing half-applied', async (t) => {
  const backend = await startHttpBackend('a');
  const [shared, fresh1, fresh2, held] = [await getFreePort(), await getFreePort(), await getFreePort(), await getFreePort()];
  const holder = await holdPort(held);
  const { proxy, events } = await newProxy([web('a', shared, backend.port)]);
  await proxy.start();
  t.teardown(async () => {
    await proxy.stop();
    await holder.close();
    await backend.close();
  });
  events.length = 0;

  const error = await proxy
    .updateRoutes([
      web('a', shared, backend.port),
      web('b', shared, backend.port),
      web('c', fresh1, backend.port),
      { ...web('d', fresh2, backend.port), match: { ports: [fresh2, held], domains: 'd.test' } },
    ])
    .catch((e: unknown) => e);
  t.type(error, PortInUseError);
  t.match(error, { code: 'EADDRINUSE', port: held });
  t.match((error as Error).message, new RegExp(`:${held} is in use by another application`));

  t.same(proxy.getListeningPorts(), [shared], 'only the old port is listening');
  t.equal(proxy.portManager.getPortRefCount(shared), 1, 'the shared port is back to its old count');
  for (const port of [fresh1, fresh2]) {
    t.equal(proxy.portManager.getPortRefCount(port), 0);
    t.equal(await probeBind(port), undefined, `port ${port} bound by the failed call is free again`);
  }
  t.notOk(events.includes(`released ${shared}`), 'the old port was never released');
  t.same(proxy.getRoutes().map((r) => r.name), ['a'], 'the old routes are still applied');
  t.equal((await httpGet(shared, { host: 'a.test' })).json().name, 'a', 'and still serve');
  t.equal((await httpGet(shared, { host: 'b.test' })).status, 404, 'the rejected route never served');

  await holder.close();
  await proxy.updateRoutes([web('a', shared, backend.port), web('d', held, backend.port)]);
  t.same(proxy.getListeningPorts(), [shared, held].sort((x, y) => x - y), 'applies once the port is free');
});

t.test('orphaned ports are released (port-released) and re-bindable by another server', async (t) => {
  const backend = await startHttpBackend('a');
  const [p1, p2] = [await getFreePort(), await getFreePort()];
  const { proxy, events } = await newProxy([web('a', p1, backend.port), web('b', p2, backend.port), web('c', p2, backend.port)]);
  await proxy.start();
  t.teardown(async () => {
    await proxy.stop();
    await backend.close();
  });
  t.same(events.slice().sort(), [`bound ${p1}`, `bound ${p2}`].sort());
  t.equal(proxy.portManager.getPortRefCount(p2), 2);
  events.length = 0;

  await proxy.updateRoutes([web('c', p2, backend.port)]);
  t.same(events, [`released ${p1}`], 'only the orphaned port is released');
  t.same(proxy.getListeningPorts(), [p2]);
  t.equal(proxy.portManager.getPortRefCount(p2), 1);
  t.notOk(proxy.portManager.isPortBoundBySmartProxy(p1));
  const other = await holdPort(p1);
  t.pass(`another server binds port ${p1}`);
  await other.close();
  t.equal((await httpGet(p2, { host: 'c.test' })).json().name, 'a');
  t.equal((await httpGet(p2, { host: 'b.test' })).status, 404);
});

t.test('stop() ends connections after the drain and leaves every port re-bindable', async (t) => {
  const backend = await startHttpBackend('a');
  const echo = await startEchoBackend('echo');
  const ports = [await getFreePort(), await getFreePort(), await getFreePort()];
  const tcp: IRouteConfig = { name: 'tcp', match: { ports: ports[2]! }, action: { type: 'forward', target: { host: '127.0.0.1', port: echo.port } } };
  const { proxy, events } = await newProxy([web('r0', ports[0]!, backend.port), web('r1', ports[1]!, backend.port), tcp]);
  await proxy.start();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(async () => {
    agent.destroy();
    await backend.close();
    await echo.close();
  });
  t.equal((await httpGet(ports[0]!, { host: 'r0.test', agent })).status, 200, 'an idle keep-alive connection is open');
  const busy = net.connect(ports[2]!, '127.0.0.1');
  busy.on('error', () => {});
  const closed = new Promise<void>((resolve) => busy.on('close', () => resolve()));
  await new Promise<void>((resolve) => busy.once('data', () => resolve()));

  await proxy.stop({ drainTimeoutMs: 200 });
  await closed;
  t.pass('a busy TCP connection is ended by stop()');
  t.same(proxy.getListeningPorts(), []);
  t.same(events.filter((e) => e.startsWith('released')).sort(), ports.map((p) => `released ${p}`).sort());
  for (const port of ports) t.equal(await probeBind(port), undefined, `port ${port} is free`);
  await t.resolves(proxy.stop(), 'stop() twice is fine');
});

t.test('updateRoutes() before start() validates and stores; start() applies it', async (t) => {
  const backend = await startHttpBackend('late');
  const [early, late] = [await getFreePort(), await getFreePort()];
  const { proxy } = await newProxy([web('early', early, backend.port)]);
  t.teardown(async () => {
    await proxy.stop();
    await backend.close();
  });
  await t.rejects(proxy.updateRoutes([web('bad', 0, backend.port)]), { code: 'ERR_ROUTE_VALIDATION' });
  await proxy.updateRoutes([web('late', late, backend.port)]);
  t.same(proxy.getListeningPorts(), [], 'nothing bound yet');
  t.same(proxy.getRoutes().map((r) => r.name), ['late']);
  await proxy.start();
  t.same(proxy.getListeningPorts(), [late]);
  t.equal((await httpGet(late, { host: 'late.test' })).json().name, 'late');
});

t.test('start() that fails on a held port binds nothing and can be retried', async (t) => {
  const backend = await startHttpBackend('a');
  const [free, held] = [await getFreePort(), await getFreePort()];
  const holder = await holdPort(held);
  const { proxy } = await newProxy([web('a', free, backend.port), web('b', held, backend.port)]);
  t.teardown(async () => {
    await proxy.stop();
    await holder.close();
    await backend.close();
  });
  await t.rejects(proxy.start(), { code: 'EADDRINUSE', port: held });
  t.same(proxy.getListeningPorts(), []);
  t.equal(await probeBind(free), undefined);
  await holder.close();
  await proxy.start();
  t.same(proxy.getListeningPorts(), [free, held].sort((x, y) => x - y));
});

t.test('after stop(): updateRoutes() and start() reject with ProxyStateError', async (t) => {
  const port = await getFreePort();
  const { proxy } = await newProxy([web('a', port, 9)]);
  await proxy.start();
  await proxy.stop();
  const error = await proxy.updateRoutes([web('a', port, 9)]).catch((e: unknown) => e);
  t.type(error, ProxyStateError);
  t.match(error, { code: 'ERR_PROXY_STATE', message: /stopped/ });
  await t.rejects(proxy.start(), { code: 'ERR_PROXY_STATE' });
  t.same(proxy.getListeningPorts(), []);
  t.equal(await probeBind(port), undefined);
});

t.test('a reference taken on the pool directly (inside the proxy) is never given back by a route update', async (t) => {
  const port = await getFreePort();
  const { proxy, events } = await newProxy([web('a', port, 9), web('b', port, 9)]);
  await proxy.start();
  t.teardown(() => proxy.stop());
  const pool = proxyInternals(proxy).ports;
  t.equal(pool.incrementPortRefCount(port), 3, 'someone else holds the port too');

  await proxy.updateRoutes([web('a', port, 9)]);
  t.equal(proxy.portManager.getPortRefCount(port), 2, 'the update gave back only the route it dropped');
  await pool.decrementPortRefCount(port);
  t.ok(proxy.portManager.isPortBoundBySmartProxy(port), 'the remaining route still has its listener');

  await pool.addPort(port);
  await proxy.updateRoutes([]);
  t.same(proxy.getListeningPorts(), [port], 'still held by the direct reference');
  t.notOk(events.includes(`released ${port}`));
  await pool.removePort(port);
  t.same(proxy.getListeningPorts(), []);
  t.ok(events.includes(`released ${port}`));
});

t.test('once the new table is live, a port that cannot be released does not fail the update', async (t) => {
  const [p1, p2] = [await getFreePort(), await getFreePort()];
  const { proxy } = await newProxy([web('a', p1, 9), web('b', p2, 9)]);
  await proxy.start();
  t.teardown(() => proxy.stop());
  // The route's reference is given back behind the transaction's back (a bug inside the proxy).
  await proxyInternals(proxy).ports.decrementPortRefCount(p1);
  await t.resolves(proxy.updateRoutes([]), 'the update is applied and says so');
  t.same(proxy.getRoutes(), []);
  t.same(proxy.getListeningPorts(), [], 'the other orphan is still released');
  t.equal(await probeBind(p2), undefined);
});
