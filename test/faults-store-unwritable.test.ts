// A certificate store that cannot be written (a full disk) or, for a moment,
// read. Before: every failed save was logged again for every name and every
// retry, and a store whose account key could not be read got a new key
// written over the good one, so every restart registered a new ACME account.
// Now each cause is reported once, and the key that is there is reused.
import t from 'tap';
import acme from 'acme-client';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { FileCertificateStore, SmartProxy, type IStoredCertificate } from '../ts/index.js';
import { silentLogger, startHttpBackend } from './helpers/backends.js';
import { autoRoute, once, startAcmeEnv } from './helpers/acme-env.js';

const axiosDefaults = acme.axios.defaults as typeof acme.axios.defaults & { acmeSettings: Record<string, unknown> };
axiosDefaults.acmeSettings = { ...axiosDefaults.acmeSettings, retryMaxAttempts: 0 };

interface LogLine {
  level: number;
  msg: string;
}

function capturingLogger(): { logger: Logger; errors: () => string[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, errors: () => lines.filter((l) => l.level >= 50).map((l) => l.msg) };
}

const noSpace = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

/** The directory store on a disk that just filled up: reads work, every write fails. */
class FullDiskStore extends FileCertificateStore {
  certificateSaves = 0;
  accountKeySaves = 0;

  override async saveCertificate(_domain: string, _certificate: IStoredCertificate): Promise<void> {
    this.certificateSaves++;
    throw noSpace();
  }

  override async saveAccountKey(_directoryUrl: string, _keyPem: string): Promise<void> {
    this.accountKeySaves++;
    throw noSpace();
  }
}

/** The directory store, whose account key cannot be read the first `failures` times (an I/O error). */
class FlakyAccountStore extends FileCertificateStore {
  failures: number;
  accountKeySaves = 0;

  constructor(dir: string, failures: number) {
    super(dir);
    this.failures = failures;
  }

  override async loadAccountKey(directoryUrl: string): Promise<string | undefined> {
    if (this.failures-- > 0) throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    return super.loadAccountKey(directoryUrl);
  }

  override async saveAccountKey(directoryUrl: string, keyPem: string): Promise<void> {
    this.accountKeySaves++;
    return super.saveAccountKey(directoryUrl, keyPem);
  }
}

function allIssued(proxy: SmartProxy, domains: string[]): Promise<void> {
  const left = new Set(domains);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not issued within 60 s: ${[...left].join(', ')}`)), 60_000);
    proxy.on('certificate-issued', ({ domain }) => {
      left.delete(domain);
      if (left.size === 0) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

t.test('a full disk: each cause reported once, not per name or restart; the stored account key is reused, never replaced', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const first = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), acme: env.acme(), routes: [autoRoute(env.tlsPort, 'first.test', backend.port)] });
  const issued = once(first, 'certificate-issued');
  await first.start();
  await issued;
  await first.stop();
  const accountFiles = await readdir(join(env.storeDir, 'accounts'));
  const accountKey = await readFile(join(env.storeDir, 'accounts', accountFiles[0]!), 'utf8');

  const domains = ['full-a.test', 'full-b.test', 'full-c.test'];
  for (const life of ['after the disk filled', 'after a restart']) {
    const store = new FullDiskStore(env.storeDir);
    const { logger, errors } = capturingLogger();
    const proxy = new SmartProxy({ host: '127.0.0.1', logger, acme: env.acme({ certificateStore: store }), routes: [autoRoute(env.tlsPort, domains, backend.port)] });
    const all = allIssued(proxy, domains);
    await proxy.start();
    await all;
    await proxy.stop();
    t.equal(store.certificateSaves, 3, `${life}: each certificate was issued, served and a save tried`);
    const reports = errors().filter((m) => /could not store/.test(m));
    t.equal(reports.length, 1, `${life}: the full disk is reported once, not once per name (${errors().join('; ')})`);
    t.equal(store.accountKeySaves, 0, `${life}: the stored account key was used, no new one made`);
  }
  t.same(await readdir(join(env.storeDir, 'accounts')), accountFiles, 'one account key file, as before');
  t.equal(await readFile(join(env.storeDir, 'accounts', accountFiles[0]!), 'utf8'), accountKey, 'unchanged');
});

t.test('an account key that cannot be read for a moment is not written over; the next order reads and uses it', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const first = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), acme: env.acme(), routes: [autoRoute(env.tlsPort, 'one.test', backend.port)] });
  const issued = once(first, 'certificate-issued');
  await first.start();
  await issued;
  await first.stop();
  const accountFiles = await readdir(join(env.storeDir, 'accounts'));
  const accountKey = await readFile(join(env.storeDir, 'accounts', accountFiles[0]!), 'utf8');

  const store = new FlakyAccountStore(env.storeDir, 1);
  const { logger, errors } = capturingLogger();
  const proxy = new SmartProxy({ host: '127.0.0.1', logger, acme: env.acme({ certificateStore: store }), routes: [autoRoute(env.tlsPort, ['two.test', 'three.test'], backend.port)] });
  const all = allIssued(proxy, ['two.test', 'three.test']);
  await proxy.start();
  t.teardown(() => proxy.stop());
  await all;
  t.equal(errors().filter((m) => /account key/.test(m)).length, 1, `the unreadable key is reported once (${errors().join('; ')})`);
  t.equal((await proxy.certificateManager.provisionCertificate('two.test')).status, 'valid', 'a later order works');
  t.equal(store.accountKeySaves, 0, 'the stored key was never written over');
  t.equal(store.failures < 0, true, 'and was read again once it could be');
  t.equal(await readFile(join(env.storeDir, 'accounts', accountFiles[0]!), 'utf8'), accountKey, 'it is unchanged');
});
