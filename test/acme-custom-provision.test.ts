import t from 'tap';
import { SmartProxy, RouteValidationError, createSelfSignedCertificate } from '../ts/index.js';
import { silentLogger, startHttpBackend } from './helpers/backends.js';
import { fetchCertificate, startAcmeEnv, autoRoute } from './helpers/acme-env.js';
import { getFreePort } from './helpers/free-port.js';


t.test("'auto' with nothing to obtain certificates is a validation error", async (t) => {
  const port = await getFreePort();
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), routes: [autoRoute(port, ['x.test'], 1)] });
  const error = await proxy.start().catch((e: unknown) => e);
  t.ok(error instanceof RouteValidationError);
  t.match((error as RouteValidationError).errors[0], { path: 'action.tls.certificate', message: /acme/ });
  t.same(proxy.getListeningPorts(), []);
});

t.test('certProvisionFunction supplies certificates; a throw falls back to ACME; http01 asks for ACME', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const custom = createSelfSignedCertificate({ domains: ['custom.test'] });
  const asked: string[] = [];
  const proxy = new SmartProxy({
    host: '127.0.0.1',
    logger: await silentLogger(),
    acme: env.acme(),
    certProvisionFunction: async (domain) => {
      asked.push(domain);
      if (domain === 'custom.test') return custom;
      if (domain === 'broken.test') throw new Error('vault is down');
      return 'http01';
    },
    routes: [autoRoute(env.tlsPort, ['custom.test', 'broken.test', 'acme.test'], backend.port)],
  });
  const events: { domain: string; source: string }[] = [];
  const all = new Promise<void>((resolve) => {
    proxy.on('certificate-issued', (e) => {
      events.push({ domain: e.domain, source: e.source });
      if (events.length === 3) resolve();
    });
  });
  await proxy.start();
  t.teardown(() => proxy.stop());
  await all;
  t.same(asked.sort(), ['acme.test', 'broken.test', 'custom.test']);
  t.same(events.sort((a, b) => a.domain.localeCompare(b.domain)), [
    { domain: 'acme.test', source: 'acme' },
    { domain: 'broken.test', source: 'acme' },
    { domain: 'custom.test', source: 'custom' },
  ]);
  t.equal(proxy.certificateManager.getCertificateStatus('custom.test')?.source, 'custom');
  const served = await fetchCertificate(env.tlsPort, 'custom.test', custom.cert);
  t.ok(served.authorized, 'custom certificate served');
  const acmeServed = await fetchCertificate(env.tlsPort, 'broken.test', await env.pebble.getRoots());
  t.ok(acmeServed.authorized, 'ACME certificate served after the provision function threw');
});
