import t from 'tap';
import { SmartProxy } from '../ts/index.js';
import { silentLogger, startEchoBackend, startHttpBackend } from './helpers/backends.js';
import { fetchCertificate, once, startAcmeEnv } from './helpers/acme-env.js';
import { proxyInternals } from '../ts/internals.js';

t.test('TLS-ALPN-01 is answered on an already-bound TLS port shared with passthrough; port 80 never bound', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  const passthroughBackend = await startEchoBackend('raw');
  t.teardown(() => backend.close());
  t.teardown(() => passthroughBackend.close());
  const proxy = new SmartProxy({
    host: '127.0.0.1',
    logger: await silentLogger(),
    acme: env.acme({ challengeTypes: ['tls-alpn-01'] }),
    routes: [
      { name: 'other', match: { ports: env.tlsPort, domains: 'other.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: passthroughBackend.port }, tls: { mode: 'passthrough' } } },
      { name: 'app', match: { ports: env.tlsPort, domains: 'c.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port }, tls: { mode: 'terminate', certificate: 'auto' } } },
    ],
  });
  const bound: number[] = [];
  proxy.on('port-bound', ({ port }) => bound.push(port));
  const issued = once<{ domain: string }>(proxy, 'certificate-issued');
  await proxy.start();
  t.teardown(() => proxy.stop());
  t.equal((await issued).domain, 'c.test');
  t.same(bound, [env.tlsPort], 'only the TLS port was ever bound');
  const served = await fetchCertificate(env.tlsPort, 'c.test', await env.pebble.getRoots());
  t.ok(served.authorized, `chain verifies against pebble's root (${served.error ?? 'ok'})`);
  t.equal(served.leaf.subjectAltName, 'DNS:c.test');
  t.equal(proxyInternals(proxy).certificates.answerTlsAlpnChallenge('c.test'), undefined, 'no ALPN challenge left pending');
});
