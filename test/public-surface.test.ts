// Nothing a user can reach changes ports or routes except updateRoutes():
// the managers are exported as types of read-only views only, the views are
// frozen query objects, and internal routes are private. The issue's
// reproduction (routeManager.commit(prepare(...)) then updateRoutes([]))
// has nothing left to call.
import t from 'tap';
import * as index from '../ts/index.js';
import { SmartProxy } from '../ts/index.js';
import { silentLogger, startHttpBackend } from './helpers/backends.js';
import { getFreePort } from './helpers/free-port.js';

t.test('the package exports no manager class', async (t) => {
  for (const name of ['PortManager', 'RouteManager', 'CertificateManager']) t.notOk(name in index, `${name} is not exported`);
});

t.test('the views are frozen and hold queries only', async (t) => {
  const proxy = new SmartProxy({ routes: [], logger: await silentLogger() });
  t.same(Object.keys(proxy.portManager).sort(), ['getListeningPorts', 'getPortRefCount', 'isPortBoundBySmartProxy']);
  t.same(Object.keys(proxy.certificateManager).sort(), ['getCertificateStatus', 'listCertificates', 'provisionCertificate']);
  t.same(Object.keys(proxy.routeManager), ['getRoutes']);
  for (const view of [proxy.portManager, proxy.certificateManager, proxy.routeManager]) {
    t.ok(Object.isFrozen(view));
    t.throws(() => Object.assign(view, { addPort: () => undefined }), TypeError, 'nothing can be added to a view');
  }
  for (const name of ['setInternalRoute', 'removeInternalRoute']) t.notOk(name in proxy, `${name} is private`);
  t.same(Object.getOwnPropertySymbols(proxy).filter((s) => !String(s).includes('kCapture') && !String(s).includes('shapeMode')), [], 'no symbol-keyed backdoor on the proxy');
  t.same(Object.getOwnPropertySymbols(SmartProxy.prototype), [], 'nor on its prototype');
  t.throws(() => ((proxy as unknown as { portManager: unknown }).portManager = {}), TypeError, 'the view fields are read-only at runtime too');
});

t.test('the views answer for the running proxy', async (t) => {
  const backend = await startHttpBackend('a');
  t.teardown(() => backend.close());
  const port = await getFreePort();
  const route = (name: string) => ({ name, match: { ports: port, domains: `${name}.test` }, action: { type: 'forward' as const, target: { host: '127.0.0.1', port: backend.port } } });
  const proxy = new SmartProxy({ host: '127.0.0.1', routes: [route('a'), route('b')], logger: await silentLogger() });
  t.same(proxy.routeManager.getRoutes().map((r) => r.name), ['a', 'b'], 'before start: the routes waiting for it');
  await proxy.start();
  t.teardown(() => proxy.stop());
  t.equal(proxy.portManager.getPortRefCount(port), 2);
  t.ok(proxy.portManager.isPortBoundBySmartProxy(port));
  t.same(proxy.portManager.getListeningPorts(), [port]);
  await proxy.updateRoutes([route('a')]);
  t.equal(proxy.portManager.getPortRefCount(port), 1);
  t.same(proxy.routeManager.getRoutes().map((r) => r.name), ['a']);
  t.same(proxy.certificateManager.listCertificates(), []);
  t.equal(proxy.certificateManager.getCertificateStatus('a.test'), undefined);
  await proxy.updateRoutes([]);
  t.same(proxy.portManager.getListeningPorts(), [], 'every port released: none was bound around the transaction');
});
