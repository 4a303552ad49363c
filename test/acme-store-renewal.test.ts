import t from 'tap';
import https from 'node:https';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SmartProxy } from '../ts/index.js';
import { silentLogger, startHttpBackend } from './helpers/backends.js';
import { fetchCertificate, once, startAcmeEnv, autoRoute } from './helpers/acme-env.js';
import { eventually } from './helpers/data-path.js';


t.test('a restart serves the stored certificate without asking the CA; renewal swaps it under an open connection', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const logger = await silentLogger();
  const routes = [autoRoute(env.tlsPort, 'd.test', backend.port)];

  const first = new SmartProxy({ host: '127.0.0.1', logger, acme: env.acme(), routes });
  const issued = once(first, 'certificate-issued');
  await first.start();
  await issued;
  const original = await fetchCertificate(env.tlsPort, 'd.test', await env.pebble.getRoots());
  await first.stop();

  const domainDir = join(env.storeDir, 'd.test');
  const files = await readdir(domainDir);
  const keyFile = files.find((f) => f.startsWith('key-'));
  t.ok(keyFile && files.includes('meta.json') && files.some((f) => f.startsWith('cert-')), `store holds cert, key and meta (${files.join(', ')})`);
  t.equal((await stat(join(domainDir, keyFile!))).mode & 0o777, 0o600, 'key file is 0600');
  const accounts = await readdir(join(env.storeDir, 'accounts'));
  t.equal(accounts.length, 1, 'account key persisted');

  // Second life: no CA traffic may happen. Any order would emit an event.
  const second = new SmartProxy({ host: '127.0.0.1', logger, acme: env.acme(), routes });
  const orders: string[] = [];
  second.on('certificate-issued', ({ domain }) => orders.push(`issued ${domain}`));
  second.on('certificate-failed', ({ domain }) => orders.push(`failed ${domain}`));
  await second.start();
  t.teardown(() => second.stop());
  await eventually(() => second.certificateManager.getCertificateStatus('d.test')?.status === 'valid');
  t.equal(second.certificateManager.getCertificateStatus('d.test')?.status, 'valid');
  const restored = await fetchCertificate(env.tlsPort, 'd.test', await env.pebble.getRoots());
  t.equal(restored.leaf.serialNumber, original.leaf.serialNumber, 'same certificate served after restart');
  t.same(orders, [], 'no order placed');

  // An open keep-alive TLS connection survives a renewal; the next handshake gets the new certificate.
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: await env.pebble.getRoots(), servername: 'd.test' });
  t.teardown(() => agent.destroy());
  const get = () =>
    new Promise<{ status: number; port: number }>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: env.tlsPort, headers: { host: 'd.test' }, servername: 'd.test', agent }, (res) => {
          const port = res.socket.localPort ?? 0;
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, port }));
        })
        .on('error', reject);
    });
  const before = await get();
  const renewed = once<{ domain: string }>(second, 'certificate-renewed');
  await second.certificateManager.provisionCertificate('d.test');
  t.equal((await renewed).domain, 'd.test');
  const after = await get();
  t.equal(after.status, 200);
  t.equal(after.port, before.port, 'the same connection kept serving across the renewal');
  const fresh = await fetchCertificate(env.tlsPort, 'd.test', await env.pebble.getRoots());
  t.not(fresh.leaf.serialNumber, original.leaf.serialNumber, 'new handshake gets the renewed certificate');
  t.ok(fresh.authorized);
});

t.test('a corrupt store entry is reported and re-issued, never a crash', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const { mkdir } = await import('node:fs/promises');
  await mkdir(join(env.storeDir, 'e.test'), { recursive: true });
  await writeFile(join(env.storeDir, 'e.test', 'meta.json'), '{ not json');
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), acme: env.acme(), routes: [autoRoute(env.tlsPort, 'e.test', backend.port)] });
  const issued = once<{ domain: string }>(proxy, 'certificate-issued');
  await proxy.start();
  t.teardown(() => proxy.stop());
  t.equal((await issued).domain, 'e.test');
  const served = await fetchCertificate(env.tlsPort, 'e.test', await env.pebble.getRoots());
  t.ok(served.authorized);
});
