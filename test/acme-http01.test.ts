import t from 'tap';
import { SmartProxy, type IRouteConfig } from '../ts/index.js';
import { httpGet, silentLogger, startHttpBackend } from './helpers/backends.js';
import { fetchCertificate, once, startAcmeEnv } from './helpers/acme-env.js';
import { eventually } from './helpers/data-path.js';

t.test('HTTP-01 rides a port the user already holds: one bind, user routes answer throughout', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const routes: IRouteConfig[] = [
    // A catch-all redirect on the challenge port must not swallow the challenge.
    { name: 'to-https', match: { ports: env.httpPort }, action: { type: 'redirect', redirect: { to: 'https://{domain}{path}' } } },
    { name: 'app', match: { ports: env.tlsPort, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port }, tls: { mode: 'terminate', certificate: 'auto' } } },
  ];
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), acme: env.acme(), routes });
  const bound: number[] = [];
  const released: number[] = [];
  proxy.on('port-bound', ({ port }) => bound.push(port));
  proxy.on('port-released', ({ port }) => released.push(port));
  const issued = once<{ domain: string; expiryDate: Date }>(proxy, 'certificate-issued');
  await proxy.start();
  t.teardown(() => proxy.stop());

  // Keep asking the user's route while the order runs.
  const answers: number[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) answers.push((await httpGet(env.httpPort, { host: 'a.test', path: '/page' })).status);
  })();
  const event = await issued;
  polling = false;
  await poller;

  t.equal(event.domain, 'a.test');
  t.ok(answers.length > 0 && answers.every((s) => s === 301), `user route answered ${answers.length} requests with 301 during issuance`);
  t.equal(bound.filter((p) => p === env.httpPort).length, 1, 'challenge port bound exactly once');
  t.same(released, [], 'no port released');
  t.equal(proxy.portManager.getPortRefCount(env.httpPort), 1, 'challenge route removed again; user route remains');
  const status = proxy.certificateManager.getCertificateStatus('a.test');
  t.equal(status?.status, 'valid');
  t.equal(status?.source, 'acme');
  t.ok(status?.nextRenewal instanceof Date);

  const root = await env.pebble.getRoots();
  const served = await fetchCertificate(env.tlsPort, 'a.test', root);
  t.ok(served.authorized, `served chain verifies against pebble's root (${served.error ?? 'ok'})`);
  t.equal(served.leaf.subjectAltName, 'DNS:a.test');
  t.equal((await httpGet(env.httpPort, { host: 'a.test', path: '/.well-known/acme-challenge/unknown-token-000000' })).status, 301, 'no challenge pending: the user route answers');
});

t.test('HTTP-01 on a port nothing else uses: bound for the challenge, then released', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const proxy = new SmartProxy({
    host: '127.0.0.1',
    logger: await silentLogger(),
    acme: env.acme(),
    routes: [{ name: 'app', match: { ports: env.tlsPort, domains: 'b.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port }, tls: { mode: 'terminate', certificate: 'auto' } } }],
  });
  const events: string[] = [];
  proxy.on('port-bound', ({ port }) => port === env.httpPort && events.push('bound'));
  proxy.on('port-released', ({ port }) => port === env.httpPort && events.push('released'));
  const issued = once(proxy, 'certificate-issued');
  await proxy.start();
  t.teardown(() => proxy.stop());
  t.same(proxy.getListeningPorts(), [env.tlsPort], 'start binds only the route ports');
  await issued;
  // The release runs just after the order completes.
  t.ok(await eventually(() => events.length >= 2), 'the challenge port is released');
  t.same(events, ['bound', 'released']);
  t.notOk(proxy.portManager.isPortBoundBySmartProxy(env.httpPort));
});
