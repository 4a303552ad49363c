// Reference counting of the listener pool: RefCountPool on its own, then
// PortManager's real listeners (bound once, closed at zero, re-bindable at once).
import t from 'tap';
import net from 'node:net';
import { PortManager } from '../ts/ports/port-manager.js';
import { RefCountPool } from '../ts/ports/ref-count-pool.js';
import { silentLogger } from './helpers/backends.js';
import { getFreePort } from './helpers/free-port.js';
import { holdPort, probeBind } from './helpers/port-probe.js';

t.test('RefCountPool constructs once, destroys at zero, never goes below zero', async (t) => {
  const pool = new RefCountPool<string, { id: number }>();
  let constructed = 0;
  const destroyed: number[] = [];
  const construct = async () => ({ id: ++constructed });
  const destruct = (value: { id: number }) => void destroyed.push(value.id);

  const first = await pool.acquire('k', construct);
  const second = await pool.acquire('k', construct, 2);
  t.equal(first, second, 'the second acquire shares the value');
  t.equal(constructed, 1);
  t.equal(pool.count('k'), 3);
  t.equal(pool.increment('k'), 4);

  t.equal(await pool.release('k', destruct, 3), false, 'still in use');
  t.same(destroyed, []);
  t.equal(await pool.release('k', destruct), true, 'last release destroys');
  t.same(destroyed, [1]);
  t.notOk(pool.has('k'));
  t.equal(pool.count('k'), 0);

  await t.rejects(pool.release('k', destruct), RangeError, 'releasing below zero throws');
  await pool.acquire('k', construct);
  await t.rejects(pool.release('k', destruct, 2), RangeError, 'releasing more than held throws');
  t.equal(pool.count('k'), 1, 'a refused release changes nothing');
  t.throws(() => pool.increment('other'), RangeError, 'cannot add uses to nothing');
  t.throws(() => pool.increment('k', 0), RangeError);
  await t.rejects(pool.acquire('k', construct, -1), RangeError);
  t.equal(constructed, 2, 'a fresh value after the count went to zero');
});

t.test('RefCountPool: concurrent acquires share one construction; a failed one leaves nothing', async (t) => {
  const pool = new RefCountPool<number, string>();
  let calls = 0;
  let fail!: (error: Error) => void;
  const construct = () => {
    calls++;
    return new Promise<string>((_resolve, reject) => (fail = reject));
  };
  const a = pool.acquire(1, construct);
  const b = pool.acquire(1, construct);
  t.equal(calls, 1);
  fail(new Error('boom'));
  await t.rejects(a, /boom/);
  await t.rejects(b, /boom/, 'the joiner hears the failure too');
  t.notOk(pool.has(1));
  t.equal(await pool.acquire(1, async () => 'ok'), 'ok', 'a later acquire tries again');
});

t.test('PortManager counts uses of one listener and closes it at zero', async (t) => {
  const port = await getFreePort();
  const events: string[] = [];
  const manager = new PortManager({ host: '127.0.0.1', logger: await silentLogger(), onConnection: (socket) => socket.end('hi') });
  manager.on('port-bound', (e) => events.push(`bound ${e.port}`));
  manager.on('port-released', (e) => events.push(`released ${e.port}`));
  t.teardown(() => manager.closeAll());

  await manager.addPort(port);
  await manager.addPort(port);
  t.equal(manager.incrementPortRefCount(port), 3);
  t.equal(manager.getPortRefCount(port), 3);
  t.ok(manager.isPortBoundBySmartProxy(port));
  t.same(manager.getListeningPorts(), [port]);
  t.same(events, [`bound ${port}`], 'bound once for three uses');
  t.equal(await readGreeting(port), 'hi', 'the listener serves');

  t.equal(await manager.decrementPortRefCount(port), 2);
  await manager.removePort(port);
  t.equal(manager.getPortRefCount(port), 1);
  t.equal(await readGreeting(port), 'hi', 'still listening while a use remains');

  t.equal(await manager.decrementPortRefCount(port), 0);
  t.same(events, [`bound ${port}`, `released ${port}`]);
  t.notOk(manager.isPortBoundBySmartProxy(port));
  t.same(manager.getListeningPorts(), []);
  await t.rejects(manager.decrementPortRefCount(port), RangeError, 'never below zero');
  t.throws(() => manager.incrementPortRefCount(port), RangeError, 'cannot count a port that is not bound');
  t.equal(await probeBind(port), undefined, 'the port can be bound again at once');
});

t.test('PortManager: an addPort that joins a bind in progress hears its failure', async (t) => {
  const port = await getFreePort();
  const holder = await holdPort(port);
  t.teardown(() => holder.close());
  const manager = new PortManager({ host: '127.0.0.1', logger: await silentLogger(), onConnection: (socket) => socket.destroy() });
  const first = manager.addPort(port);
  const second = manager.addPort(port);
  await t.rejects(first, { code: 'EADDRINUSE', port });
  await t.rejects(second, { code: 'EADDRINUSE', port }, 'not told the port is bound when it never was');
  t.equal(manager.getPortRefCount(port), 0);
  t.notOk(manager.isPortBoundBySmartProxy(port));
});

t.test('closeAll releases every port whatever its count', async (t) => {
  const ports = [await getFreePort(), await getFreePort()];
  const manager = new PortManager({ host: '127.0.0.1', logger: await silentLogger(), onConnection: (socket) => socket.destroy() });
  const released: number[] = [];
  manager.on('port-released', (e) => released.push(e.port));
  await manager.addPort(ports[0]!, 3);
  await manager.addPort(ports[1]!);
  await manager.closeAll();
  t.same(released.sort(), ports.slice().sort());
  t.same(manager.getListeningPorts(), []);
  for (const port of ports) t.equal(await probeBind(port), undefined, `port ${port} can be bound again at once`);
});

function readGreeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
  });
}
