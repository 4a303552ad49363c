// Bind failures are told apart and typed: our own port (internal, reused),
// another application's (PortInUseError), anything else (PortBindError).
import t from 'tap';
import { bindError, classifyConflict } from '../ts/ports/bind-error.js';
import { PortManager } from '../ts/ports/port-manager.js';
import { PortBindError, PortInUseError, SmartProxyError } from '../ts/errors.js';
import { silentLogger } from './helpers/backends.js';
import { getFreePort } from './helpers/free-port.js';
import { holdPort } from './helpers/port-probe.js';

const inUse = Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' });
const denied = Object.assign(new Error('listen EACCES'), { code: 'EACCES' });

t.test('classifyConflict: EADDRINUSE on our port is internal, on any other external', async (t) => {
  t.equal(classifyConflict(inUse, true), 'internal');
  t.equal(classifyConflict(inUse, false), 'external');
  t.equal(classifyConflict(denied, false), 'none');
  t.equal(classifyConflict(new Error('no code'), true), 'none');
  t.equal(classifyConflict(undefined, false), 'none');
});

t.test('PortManager.classifyConflict asks whether the port is ours', async (t) => {
  const [ours, theirs] = [await getFreePort(), await getFreePort()];
  const manager = new PortManager({ host: '127.0.0.1', logger: await silentLogger(), onConnection: (socket) => socket.destroy() });
  t.teardown(() => manager.closeAll());
  await manager.addPort(ours);
  t.equal(manager.classifyConflict(inUse, ours), 'internal');
  t.equal(manager.classifyConflict(inUse, theirs), 'external');
  await manager.addPort(ours);
  t.equal(manager.getPortRefCount(ours), 2, 'an internal conflict is reuse, never an error');
});

t.test('bindError maps errno codes to typed errors', async (t) => {
  const a = bindError(8080, inUse, '127.0.0.1');
  t.type(a, PortInUseError);
  t.match(a, { code: 'EADDRINUSE', port: 8080, cause: inUse });
  t.match(a.message, /127\.0\.0\.1:8080 is in use by another application/);
  const b = bindError(80, denied);
  t.type(b, PortBindError);
  t.match(b, { code: 'ERR_PORT_BIND', port: 80, syscallCode: 'EACCES', cause: denied });
  t.match(b.message, /binding port 80 failed \(EACCES\): .*setcap/, 'says how to fix it');
  t.ok(SmartProxyError.isSmartProxyError(b));
});

t.test('an external net.Server holding the port: PortInUseError naming the port', async (t) => {
  const port = await getFreePort();
  const holder = await holdPort(port);
  t.teardown(() => holder.close());
  const manager = new PortManager({ host: '127.0.0.1', logger: await silentLogger(), onConnection: (socket) => socket.destroy() });
  const events: unknown[] = [];
  manager.on('port-bound', (e) => events.push(e));
  const error = await manager.addPort(port).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(error, PortInUseError);
  t.match(error, { code: 'EADDRINUSE', port, name: 'PortInUseError' });
  t.match((error as Error).message, new RegExp(`${port} is in use by another application`));
  t.equal(manager.getPortRefCount(port), 0, 'nothing left counted');
  t.notOk(manager.isPortBoundBySmartProxy(port));
  t.same(events, []);

  await holder.close();
  await manager.addPort(port);
  t.equal(manager.getPortRefCount(port), 1, 'binds once the other application lets go');
  await manager.closeAll();
});

t.test('an address not on this machine: PortBindError with EADDRNOTAVAIL (binding only, no traffic)', async (t) => {
  // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never assigned to a local interface.
  const manager = new PortManager({ host: '192.0.2.1', logger: await silentLogger(), onConnection: (socket) => socket.destroy() });
  const port = await getFreePort();
  const error = await manager.addPort(port).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(error, PortBindError);
  t.match(error, { code: 'ERR_PORT_BIND', port, syscallCode: 'EADDRNOTAVAIL' });
  t.match((error as Error).message, /not assigned to this machine/);
  t.equal(manager.getPortRefCount(port), 0);
  t.same(manager.getListeningPorts(), []);
});
