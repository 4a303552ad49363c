// Certificate faults: an ACME CA that cannot be reached, and a certificate
// store that cannot be written. Either way the proxy keeps serving every
// other route, says what went wrong (event, status, log), never crashes,
// and never loses a certificate it had stored. (A CA that goes away after
// a first issuance, and the ACME port held elsewhere: acme-failures.test.ts.)
import t from 'tap';
import acme from 'acme-client';
import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { FileCertificateStore, SmartProxy, createSelfSignedCertificate, type IStoredCertificate } from '../ts/index.js';
import { httpGet, startHttpBackend } from './helpers/backends.js';
import { fetchCertificate, once, startAcmeEnv, autoRoute } from './helpers/acme-env.js';
import { eventually, httpsGet } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

// acme-client retries unreachable CAs 5 times, 5-25 s apart, process-wide; our own backoff is what is under test.
const axiosDefaults = acme.axios.defaults as typeof acme.axios.defaults & { acmeSettings: Record<string, unknown> };
axiosDefaults.acmeSettings = { ...axiosDefaults.acmeSettings, retryMaxAttempts: 0 };

const staticCert = createSelfSignedCertificate({ domains: ['static.test'] });


interface LogLine {
  level: number;
  msg: string;
  domain?: string;
  err?: { message?: string; code?: string };
}

/** A pino logger that keeps every line, so a test can check what was reported. */
function capturingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

const errors = (lines: LogLine[]) => lines.filter((l) => l.level >= 50);

t.test('CA unreachable from the start: start() does not wait, certificate-failed names the cause, every other route serves', async (t) => {
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const storeDir = await mkdtemp(join(tmpdir(), 'smartproxy-certs-'));
  t.teardown(() => rm(storeDir, { recursive: true, force: true }));
  const [tlsPort, httpPort, deadCa, acmePort] = [await getFreePort(), await getFreePort(), await getFreePort(), await getFreePort()];
  const { logger, lines } = capturingLogger();
  const proxy = new SmartProxy({
    host: '127.0.0.1',
    logger,
    acme: { email: 'test@example.com', directoryUrl: `https://127.0.0.1:${deadCa}/dir`, port: acmePort, certificateStore: storeDir, skipChallengeVerification: true },
    routes: [
      autoRoute(tlsPort, 'auto.test', backend.port),
      { name: 'static', match: { ports: tlsPort, domains: 'static.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port }, tls: { mode: 'terminate', certificate: staticCert } } },
      { name: 'plain', match: { ports: httpPort, domains: 'plain.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } },
    ],
  });
  const failed = once<{ domain: string; error: Error & { code?: string; cause?: unknown }; retryAt?: Date }>(proxy, 'certificate-failed');
  await proxy.start();
  t.teardown(() => proxy.stop());
  t.same(proxy.getListeningPorts(), [tlsPort, httpPort].sort((a, b) => a - b), 'start() bound the routes’ ports without waiting on the CA');

  const event = await failed;
  t.equal(event.domain, 'auto.test');
  t.equal(event.error.code, 'ERR_CERTIFICATE');
  t.match(event.error.message, /auto\.test.*ECONNREFUSED/, `the message names the domain and the cause: ${event.error.message}`);
  t.ok(event.retryAt instanceof Date && event.retryAt.getTime() > Date.now(), 'a retry is scheduled');
  const status = proxy.certificateManager.getCertificateStatus('auto.test');
  t.equal(status?.status, 'error', 'the status says error');
  t.match(status?.error, /ECONNREFUSED/);
  t.ok(errors(lines).some((l) => l.domain === 'auto.test' && /obtaining certificate failed/.test(l.msg)), 'the failure is logged as an error');
  t.same(proxy.getListeningPorts(), [tlsPort, httpPort].sort((a, b) => a - b), 'no challenge port was left bound');

  t.equal((await httpsGet(tlsPort, { servername: 'static.test', ca: staticCert.cert })).status, 200, 'a static route on the same TLS port serves');
  t.equal((await httpGet(httpPort, { host: 'plain.test' })).status, 200, 'plain HTTP serves');
  const refused = await httpsGet(tlsPort, { servername: 'auto.test' }).then(
    () => 'served',
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  );
  t.not(refused, 'served', `auto.test has no certificate yet: its handshake is closed (${refused})`);
  t.equal((await httpsGet(tlsPort, { servername: 'static.test', ca: staticCert.cert })).status, 200, 'and the port keeps serving after that');
});

t.test('a certificate store that cannot be written: the certificate is still issued and served, the failure logged', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const blocker = join(env.storeDir, 'not-a-directory');
  await writeFile(blocker, 'a file where the store directory should be\n');
  const stores = [
    { what: 'a file where a directory is expected', path: blocker, domain: 'file.test' },
    { what: 'a path under /proc', path: `/proc/smartproxy-test-${process.pid}/certs`, domain: 'proc.test' },
  ];
  for (const { what, path, domain } of stores) {
    const { logger, lines } = capturingLogger();
    const proxy = new SmartProxy({ host: '127.0.0.1', logger, acme: env.acme({ certificateStore: path }), routes: [autoRoute(env.tlsPort, domain, backend.port)] });
    const settled = new Promise<string>((resolve) => {
      proxy.once('certificate-issued', () => resolve('issued'));
      proxy.once('certificate-failed', ({ error }) => resolve(`failed: ${error.message}`));
    });
    await proxy.start();
    t.teardown(() => proxy.stop());
    const outcome = await settled;
    t.equal(outcome, 'issued', `${what}: the certificate was issued`);
    const served = await fetchCertificate(env.tlsPort, domain, await env.pebble.getRoots());
    t.ok(served.authorized, `${what}: and is served, trusted by the CA's root`);
    t.ok(served.leaf.subjectAltName?.includes(domain));
    t.equal(proxy.certificateManager.getCertificateStatus(domain)?.status, 'valid');
    const logged = errors(lines).map((l) => l.msg);
    t.ok(logged.some((m) => /could not store the new certificate/.test(m)), `${what}: the failed save is logged (${logged.join('; ')})`);
    t.ok(logged.some((m) => /account key/.test(m)), `${what}: so is the account key that could not be kept`);
    await proxy.stop();
  }
  t.ok(true, 'the process is still here: no crash');
});

/** The filesystem store, except that each save breaks off after the key file, as when a disk fills up mid-write. */
class BreakingStore extends FileCertificateStore {
  saves = 0;

  override async saveCertificate(domain: string, certificate: IStoredCertificate): Promise<void> {
    this.saves++;
    // A chain that cannot be written: the key goes to disk first, then the write of the chain fails.
    await super.saveCertificate(domain, { ...certificate, cert: undefined as unknown as string });
  }
}

t.test('a save that fails half-way never loses the certificate already stored', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const routes = [autoRoute(env.tlsPort, 'keep.test', backend.port)];
  const quiet = pino({ level: 'silent' });

  const first = new SmartProxy({ host: '127.0.0.1', logger: quiet, acme: env.acme(), routes });
  const issued = once(first, 'certificate-issued');
  await first.start();
  await issued;
  const roots = await env.pebble.getRoots();
  const original = await fetchCertificate(env.tlsPort, 'keep.test', roots);
  await first.stop();

  const store = new BreakingStore(env.storeDir);
  const { logger, lines } = capturingLogger();
  const second = new SmartProxy({ host: '127.0.0.1', logger, acme: env.acme({ certificateStore: store }), routes });
  await second.start();
  t.ok(await eventually(() => second.certificateManager.getCertificateStatus('keep.test')?.status === 'valid'), 'the stored certificate is loaded');
  t.equal((await fetchCertificate(env.tlsPort, 'keep.test', roots)).leaf.serialNumber, original.leaf.serialNumber, 'the stored certificate is served after a restart');

  const renewed = once(second, 'certificate-renewed');
  await second.certificateManager.provisionCertificate('keep.test');
  await renewed;
  t.equal(store.saves, 1, 'the renewal tried to save');
  const fresh = await fetchCertificate(env.tlsPort, 'keep.test', roots);
  t.not(fresh.leaf.serialNumber, original.leaf.serialNumber, 'the renewed certificate is served although it could not be stored');
  t.ok(errors(lines).some((l) => l.domain === 'keep.test' && /could not store the new certificate/.test(l.msg)), 'the failed save is logged');
  await second.stop();

  const onDisk = await new FileCertificateStore(env.storeDir).loadCertificate('keep.test');
  t.ok(onDisk, `the stored entry still loads (${(await readdir(join(env.storeDir, 'keep.test'))).join(', ')})`);
  t.ok(onDisk!.expiresAt.getTime() > Date.now(), 'and is still valid');
  const third = new SmartProxy({ host: '127.0.0.1', logger: quiet, acme: env.acme(), routes });
  const orders: string[] = [];
  third.on('certificate-issued', () => orders.push('issued'));
  third.on('certificate-failed', () => orders.push('failed'));
  await third.start();
  t.teardown(() => third.stop());
  t.ok(await eventually(() => third.certificateManager.getCertificateStatus('keep.test')?.status === 'valid'), 'the stored certificate is loaded again');
  t.equal((await fetchCertificate(env.tlsPort, 'keep.test', roots)).leaf.serialNumber, original.leaf.serialNumber, 'a later restart serves the certificate stored before the failed save');
  t.same(orders, [], 'without ordering a new one');
});

t.test('a store path that can never be created fails at once instead of hanging (Node’s recursive mkdir spins on these)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'smartproxy-certs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await symlink(join(dir, 'unmounted'), join(dir, 'dangling'));
  const certificate: IStoredCertificate = { cert: staticCert.cert, key: staticCert.key, issuedAt: new Date(), expiresAt: new Date(Date.now() + 86_400_000), source: 'custom' };
  for (const path of [join(dir, 'dangling', 'certs'), `/proc/smartproxy-test-${process.pid}/certs`]) {
    const store = new FileCertificateStore(path);
    await t.rejects(store.saveCertificate('static.test', certificate), { code: /^(ENOENT|EEXIST)$/ }, `${path}: saving a certificate rejects`);
    await t.rejects(store.saveAccountKey('https://ca.test/dir', 'key'), { code: /^(ENOENT|EEXIST)$/ }, `${path}: saving an account key rejects`);
    t.equal(await store.loadCertificate('static.test'), undefined, `${path}: loading finds nothing`);
  }
});
