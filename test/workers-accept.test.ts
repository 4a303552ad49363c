// The workers option, accepting: the workers accept from the socket the
// control plane bound, and the control plane accepts none itself (no
// connection passes through it); ports added and removed by updateRoutes()
// are bound as one transaction and released in every process; a connection
// to a new port never meets a table that does not route it.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { PortInUseError, SmartProxy, type IRouteConfig } from '../ts/index.js';
import { silentLogger, startHttpBackend } from './helpers/backends.js';
import { delay } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';
import { getStatus, startWorkerProxy, workerCounters } from './helpers/workers.js';

function forward(name: string, port: number, target: number): IRouteConfig {
  return { name, match: { ports: port, path: '/*' }, action: { type: 'forward', target: { host: '127.0.0.1', port: target } } };
}


/** Connections waiting in the accept queue of the socket listening on 127.0.0.1:port (the rx_queue of /proc/net/tcp). */
function acceptQueue(port: number): number | undefined {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [, address, , state, queues] = line.trim().split(/\s+/);
    // State 0A is LISTEN; its rx_queue counts connections no process has accepted yet.
    if (address === local && state === '0A') return parseInt(queues!.split(':')[1]!, 16);
  }
  return undefined;
}

/** Whether another program could bind the port now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

t.test('with every worker stopped, connections wait in the kernel: the control plane accepts none of them', { timeout: 60_000 }, async (t) => {
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const port = await getFreePort();
  const proxy = await startWorkerProxy(t, [forward('app', port, backend.port)]);
  const pids = (await workerCounters(proxy)).map((w) => w.pid);
  t.equal(pids.length, 2, 'two live workers');
  t.equal(await getStatus(port), 200, 'served');
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  let resumed = false;
  const resume = () => {
    if (resumed) return;
    resumed = true;
    for (const pid of pids) process.kill(pid, 'SIGCONT');
  };
  t.teardown(resume);
  const pending = Array.from({ length: 3 }, () => getStatus(port));
  // This process (the control plane) keeps running its event loop meanwhile: were it accepting, the queue would empty.
  await delay(300);
  t.equal(acceptQueue(port), 3, 'three connections queued on the socket, accepted by no process');
  resume();
  t.same(await Promise.all(pending), [200, 200, 200], 'a worker accepts and serves them once it runs again');
});

t.test('updateRoutes: a new port is bound for every worker, a refused one rolls the update back, a dropped one is released everywhere', { timeout: 60_000 }, async (t) => {
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const [first, added, other, held] = [await getFreePort(), await getFreePort(), await getFreePort(), await getFreePort()];
  const proxy = await startWorkerProxy(t, [forward('first', first, backend.port)]);

  await proxy.updateRoutes([forward('first', first, backend.port), forward('added', added, backend.port)]);
  const statuses = await Promise.all(Array.from({ length: 20 }, () => getStatus(added)));
  t.same(statuses, Array(20).fill(200), 'the added port is served as soon as updateRoutes() resolves');

  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(held, '127.0.0.1', resolve));
  t.teardown(() => holder.close());
  const refused = await proxy.updateRoutes([forward('first', first, backend.port), forward('other', other, backend.port), forward('held', held, backend.port)]).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(refused instanceof PortInUseError, `PortInUseError (${String(refused)})`);
  t.same(proxy.getListeningPorts(), [first, added].sort((a, b) => a - b), 'the update is rolled back: the ports are those before it');
  t.ok(await bindable(other), 'the other new port of the refused update was released');
  t.equal(await getStatus(added), 200, 'the old table still serves');

  await proxy.updateRoutes([forward('first', first, backend.port)]);
  t.ok(await bindable(added), 'a dropped port is free once updateRoutes() resolves: the control plane and every worker let go of it');
  t.equal(await getStatus(first), 200, 'the port kept is still served');
});

/** One GET, resolving to the status, 'refused' when nothing listens yet, or 0 on any other failure (a reset). */
function attempt(port: number): Promise<number | 'refused'> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: 'w.test' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED' ? 'refused' : 0));
  });
}

/** Requests the port every few ms until it answers: the first connection a worker accepts must be served, not reset. */
async function firstAnswer(port: number): Promise<number> {
  for (;;) {
    const result = await attempt(port);
    if (result !== 'refused') return result;
    await delay(2);
  }
}

t.test('a connection to a new port as soon as a worker accepts there waits for the commit and is served', { timeout: 60_000 }, async (t) => {
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const [first, added] = [await getFreePort(), await getFreePort()];
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), workers: 2, routes: [forward('first', first, backend.port)] });
  const answered = firstAnswer(first);
  const started = proxy.start();
  t.teardown(async () => {
    await started.catch(() => undefined);
    await proxy.stop({ drainTimeoutMs: 200 });
  });
  t.equal(await answered, 200, 'at start: the first connection accepted is served by the routes, not reset');
  await started;
  const answeredAdded = firstAnswer(added);
  await proxy.updateRoutes([forward('first', first, backend.port), forward('added', added, backend.port)]);
  t.equal(await answeredAdded, 200, 'a port added by updateRoutes(): the same');
});
