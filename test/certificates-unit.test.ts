import t from 'tap';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renewalTime, retryDelayMs } from '../ts/certificates/renewal-policy.js';
import { FileCertificateStore } from '../ts/certificates/file-store.js';
import { CorruptStoreEntryError } from '../ts/certificates/store.js';
import { readCertificate } from '../ts/certificates/certificate-info.js';
import { createSelfSignedCertificate } from '../ts/certificates/self-signed.js';

const day = 24 * 60 * 60 * 1000;

t.test('renewal time: threshold days or a third of the lifetime, whichever is earlier', async (t) => {
  const start = new Date('2026-01-01T00:00:00Z');
  const ninety = new Date(start.getTime() + 90 * day);
  const noJitter = () => 0;
  t.equal(renewalTime(start, ninety, 30, noJitter).getTime(), ninety.getTime() - 30 * day, '90-day cert, 30 days: both rules agree');
  t.equal(renewalTime(start, ninety, 10, noJitter).getTime(), ninety.getTime() - 30 * day, 'a third of the lifetime comes first');
  t.equal(renewalTime(start, ninety, 45, noJitter).getTime(), ninety.getTime() - 45 * day, 'the threshold comes first');
  const short = new Date(start.getTime() + 7 * day);
  t.equal(renewalTime(start, short, 30, noJitter).getTime(), start.getTime() + (7 * day * 2) / 3, 'threshold longer than the lifetime: renew at two thirds, not in a loop');
  const jittered = renewalTime(start, ninety, 30, () => 1);
  t.ok(jittered.getTime() < ninety.getTime() - 30 * day && jittered.getTime() >= ninety.getTime() - 30 * day - 0.9 * day, 'jitter moves it earlier by at most 1 % of the lifetime');
});

t.test('retry delays back off from minutes to hours', async (t) => {
  const mid = () => 0.5;
  t.equal(retryDelayMs(1, 60_000, 6 * 3600_000, mid), 60_000);
  t.equal(retryDelayMs(2, 60_000, 6 * 3600_000, mid), 120_000);
  t.equal(retryDelayMs(5, 60_000, 6 * 3600_000, mid), 16 * 60_000);
  t.equal(retryDelayMs(30, 60_000, 6 * 3600_000, mid), 6 * 3600_000, 'capped at 6 h');
});

t.test('file store: round trip, atomic versions, corrupt entries reported', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'smartproxy-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const store = new FileCertificateStore(dir);
  t.equal(await store.loadCertificate('x.test'), undefined, 'nothing stored yet');
  const pair = createSelfSignedCertificate({ domains: ['x.test'] });
  const facts = readCertificate(pair.cert);
  const entry = { cert: pair.cert, key: pair.key, issuedAt: facts.notBefore, expiresAt: facts.notAfter, source: 'acme' as const };
  await store.saveCertificate('x.test', entry);
  const loaded = await store.loadCertificate('x.test');
  t.equal(loaded?.cert, pair.cert);
  t.equal(loaded?.expiresAt.getTime(), facts.notAfter.getTime());

  // A second version replaces the first; the replaced files are cleaned up; a stray temp file from a crash is
  // ignored, and removed by the next store's start-up sweep once it is a minute old (a younger one may be another writer's).
  const stray = join(dir, 'x.test', 'cert-123-dead.pem.abcd.tmp');
  await writeFile(stray, 'partial');
  const next = createSelfSignedCertificate({ domains: ['x.test'] });
  await store.saveCertificate('x.test', { ...entry, cert: next.cert, key: next.key });
  t.equal((await store.loadCertificate('x.test'))?.cert, next.cert);
  t.equal((await readdir(join(dir, 'x.test'))).length, 4, 'the current cert, key and meta, and the young temp file');
  const old = new Date(Date.now() - 30 * 60_000);
  await utimes(stray, old, old);
  await new FileCertificateStore(dir).loadCertificate('x.test');
  t.equal((await readdir(join(dir, 'x.test'))).length, 3, 'a minute-old temp file is swept when a store starts');

  // A crash after writing new files but before meta.json: the old version is still what loads.
  const current = await store.loadCertificate('x.test');
  await writeFile(join(dir, 'x.test', 'cert-999-beef.pem'), 'garbage that was never committed');
  t.equal((await store.loadCertificate('x.test'))?.cert, current?.cert, 'uncommitted files are not read');

  // A key that does not match its certificate is corrupt.
  const other = createSelfSignedCertificate({ domains: ['y.test'] });
  await store.saveCertificate('y.test', { ...entry, cert: other.cert, key: pair.key });
  await t.rejects(store.loadCertificate('y.test'), CorruptStoreEntryError);
  await writeFile(join(dir, 'y.test', 'meta.json'), '{"certFile":"../../etc/passwd","keyFile":"k"}');
  await t.rejects(store.loadCertificate('y.test'), CorruptStoreEntryError, 'meta cannot point outside the entry');
  await t.rejects(store.loadCertificate('../evil'), /refusing/);

  t.equal(await store.loadAccountKey('https://ca.test/dir'), undefined);
  await store.saveAccountKey('https://ca.test/dir', pair.key);
  t.equal(await store.loadAccountKey('https://ca.test/dir'), pair.key);
  t.equal(await store.loadAccountKey('https://other.test/dir'), undefined, 'one account per directory');
});

t.test('acme.timeoutMs must be a positive number of milliseconds', async (t) => {
  const { SmartProxy, InvalidOptionError } = await import('../ts/index.js');
  for (const timeoutMs of [0, -1, Number.NaN, Infinity, '30s' as unknown as number]) {
    t.throws(() => new SmartProxy({ routes: [], acme: { email: 'a@b.test', timeoutMs } }), InvalidOptionError, `${String(timeoutMs)} is refused`);
  }
  t.doesNotThrow(() => new SmartProxy({ routes: [], acme: { email: 'a@b.test', timeoutMs: 500 } }));
});
