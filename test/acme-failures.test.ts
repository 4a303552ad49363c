import t from 'tap';
import acme from 'acme-client';
import net from 'node:net';
import { SmartProxy, PortInUseError } from '../ts/index.js';
import { closeServer, httpGet, listen, silentLogger, startHttpBackend } from './helpers/backends.js';
import { fetchCertificate, once, startAcmeEnv, autoRoute } from './helpers/acme-env.js';
import { getFreePort } from './helpers/free-port.js';
import { eventually } from './helpers/data-path.js';

// acme-client retries unreachable CAs 5 times, 5-25 s apart, process-wide; our own backoff is what is under test.
const axiosDefaults = acme.axios.defaults as typeof acme.axios.defaults & { acmeSettings: Record<string, unknown> };
axiosDefaults.acmeSettings = { ...axiosDefaults.acmeSettings, retryMaxAttempts: 0 };


t.test('CA unreachable: certificate-failed with a retry scheduled; old certificate and other routes keep serving', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const plainPort = await getFreePort();
  const proxy = new SmartProxy({
    host: '127.0.0.1',
    logger: await silentLogger(),
    acme: env.acme(),
    routes: [autoRoute(env.tlsPort, 'f.test', backend.port), { name: 'plain', match: { ports: plainPort, domains: 'plain.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } }],
  });
  const issued = once(proxy, 'certificate-issued');
  await proxy.start();
  t.teardown(() => proxy.stop());
  await issued;
  const roots = await env.pebble.getRoots();
  const before = await fetchCertificate(env.tlsPort, 'f.test', roots);

  await env.pebble.stop();
  const failed = once<{ domain: string; error: Error & { code?: string }; retryAt?: Date }>(proxy, 'certificate-failed');
  await t.rejects(proxy.certificateManager.provisionCertificate('f.test'), { code: 'ERR_CERTIFICATE' });
  const event = await failed;
  t.equal(event.domain, 'f.test');
  t.equal(event.error.code, 'ERR_CERTIFICATE');
  t.ok(event.retryAt instanceof Date && event.retryAt.getTime() > Date.now(), 'retry scheduled in the future');
  const status = proxy.certificateManager.getCertificateStatus('f.test');
  t.equal(status?.status, 'valid', 'the current certificate stays valid');
  t.ok(status?.error, 'the failure is reported in the status');
  t.equal(status?.nextRenewal?.getTime(), event.retryAt?.getTime(), 'next attempt is the retry');
  const after = await fetchCertificate(env.tlsPort, 'f.test', roots);
  t.equal(after.leaf.serialNumber, before.leaf.serialNumber, 'old certificate still served');
  t.equal((await httpGet(plainPort, { host: 'plain.test' })).status, 200, 'other routes unaffected');
});

t.test('ACME port held by another application: the fallback port answers HTTP-01', async (t) => {
  const fallback = await getFreePort();
  const env = await startAcmeEnv(t, { httpPort: fallback });
  const holder = net.createServer();
  await listen(holder);
  t.teardown(() => closeServer(holder));
  const heldPort = (holder.address() as net.AddressInfo).port;
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const proxy = new SmartProxy({
    host: '127.0.0.1',
    logger: await silentLogger(),
    acme: env.acme({ port: heldPort, fallbackPorts: [fallback] }),
    routes: [autoRoute(env.tlsPort, 'g.test', backend.port)],
  });
  const bound: number[] = [];
  proxy.on('port-bound', ({ port }) => bound.push(port));
  const issued = once<{ domain: string }>(proxy, 'certificate-issued');
  await proxy.start();
  t.teardown(() => proxy.stop());
  t.equal((await issued).domain, 'g.test');
  t.ok(bound.includes(fallback), 'fallback port was bound for the challenge');
  t.notOk(bound.includes(heldPort));
});

t.test('no free ACME port: certificate-failed carries a PortInUseError', async (t) => {
  const env = await startAcmeEnv(t);
  const holder = net.createServer();
  await listen(holder);
  t.teardown(() => closeServer(holder));
  const heldPort = (holder.address() as net.AddressInfo).port;
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), acme: env.acme({ port: heldPort }), routes: [autoRoute(env.tlsPort, 'h.test', backend.port)] });
  const failed = once<{ domain: string; error: Error & { cause?: unknown } }>(proxy, 'certificate-failed');
  await proxy.start();
  t.teardown(() => proxy.stop());
  const event = await failed;
  t.equal(event.domain, 'h.test');
  t.ok(event.error.cause instanceof PortInUseError, 'cause is PortInUseError');
  t.match(String(event.error.message), /another application/);
  t.same(proxy.getListeningPorts(), [env.tlsPort], 'nothing half-bound');
});

t.test('concurrent updateRoutes while an order is in flight', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const extraPorts = await Promise.all([getFreePort(), getFreePort(), getFreePort()]);
  const base = [
    { name: 'http', match: { ports: env.httpPort, domains: 'site.test' }, action: { type: 'forward' as const, target: { host: '127.0.0.1', port: backend.port } } },
    autoRoute(env.tlsPort, 'i.test', backend.port),
  ];
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), acme: env.acme(), routes: base });
  const issued = once<{ domain: string }>(proxy, 'certificate-issued');
  await proxy.start();
  t.teardown(() => proxy.stop());
  const updates: Promise<void>[] = [];
  for (let i = 0; i < 30; i++) {
    const extra = extraPorts.slice(0, i % 4).map((port, j) => ({ name: `extra-${j}`, match: { ports: port }, action: { type: 'forward' as const, target: { host: '127.0.0.1', port: backend.port } } }));
    updates.push(proxy.updateRoutes([...base, ...extra]));
  }
  await Promise.all(updates);
  t.equal((await issued).domain, 'i.test');
  t.ok(await eventually(() => proxy.portManager.getPortRefCount(env.httpPort) === 1), 'the challenge route is released after the order');
  t.equal(proxy.portManager.getPortRefCount(env.httpPort), 1, 'challenge route gone, user route kept');
  t.same(proxy.getListeningPorts(), [env.httpPort, env.tlsPort, ...extraPorts.slice(0, 29 % 4)].sort((a, b) => a - b), 'final state is the last call');
  t.equal((await httpGet(env.httpPort, { host: 'site.test' })).status, 200);
});
