// Several writers on one certificate directory (two processes, a pm2 or
// cluster pair). The store's clean-up used to delete the other writer's
// fresh files before its meta.json pointed at them: 167 of 200 concurrent
// rounds ended with an unreadable entry. A failed save left its key behind;
// a crash left temp files nobody removed. And the per-name lock that keeps
// two processes from ordering one name twice: exclusive, refreshed while
// held, broken when stale, fenced.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileCertificateStore, FileNameLock, MemoryNameLock, createSelfSignedCertificate, type IStoredCertificate } from '../ts/index.js';
import { readCertificate } from '../ts/certificates/certificate-info.js';

function entry(domain: string): IStoredCertificate {
  const pair = createSelfSignedCertificate({ domains: [domain] });
  const facts = readCertificate(pair.cert);
  return { cert: pair.cert, key: pair.key, issuedAt: facts.notBefore, expiresAt: facts.notAfter, source: 'acme' };
}

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'smartproxy-writers-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('two stores on one directory, 200 concurrent save rounds: never an unreadable entry', async (t) => {
  const dir = await tempDir(t);
  const [a, b] = [new FileCertificateStore(dir), new FileCertificateStore(dir)];
  const [one, two] = [entry('w.test'), entry('w.test')];
  let unreadable = 0;
  const failures: string[] = [];
  const read = (store: FileCertificateStore) =>
    store.loadCertificate('w.test').then(
      (loaded) => {
        if (loaded !== undefined && loaded.cert !== one.cert && loaded.cert !== two.cert) throw new Error('a mix of versions');
      },
      (error: Error) => {
        unreadable++;
        if (failures.length < 3) failures.push(error.message);
      },
    );
  for (let round = 0; round < 200; round++) {
    await Promise.all([a.saveCertificate('w.test', one), b.saveCertificate('w.test', two), read(a), read(b)]);
    await read(a);
  }
  t.equal(unreadable, 0, `unreadable reads during and after the rounds: ${unreadable} ${failures.join('; ')}`);
  const loaded = await new FileCertificateStore(dir).loadCertificate('w.test');
  t.ok(loaded?.cert === one.cert || loaded?.cert === two.cert, 'the entry holds one of the two versions, whole');
  // A version can lose a race unseen (both writers replaced the same one); once ten minutes old, the next save removes it.
  const files = await readdir(join(dir, 'w.test'));
  const old = new Date(Date.now() - 30 * 60_000);
  for (const name of files) await utimes(join(dir, 'w.test', name), old, old);
  await a.saveCertificate('w.test', one);
  const after = await readdir(join(dir, 'w.test'));
  t.equal(after.length, 3, `versions lost in races (${files.length - 3} files) do not pile up: the next save sweeps them (${after.join(', ')})`);
});

t.test('a save that fails half-way leaves nothing of itself behind', async (t) => {
  const dir = await tempDir(t);
  const store = new FileCertificateStore(dir);
  await store.saveCertificate('half.test', entry('half.test'));
  const before = (await readdir(join(dir, 'half.test'))).sort();
  // The key is written, then writing the chain fails (as on a full disk).
  await t.rejects(store.saveCertificate('half.test', { ...entry('half.test'), cert: undefined as unknown as string }));
  t.same((await readdir(join(dir, 'half.test'))).sort(), before, 'only the committed version remains');
  t.ok(await store.loadCertificate('half.test'), 'and it loads');
});

t.test('kill -9 during saves, 20 times: the entry always loads, and the leftovers are swept', async (t) => {
  const dir = await tempDir(t);
  const writer = join(import.meta.dirname, 'helpers', 'store-writer.ts');
  let unreadable = 0;
  let loaded = 0;
  let vanished = 0;
  for (let round = 0; round < 20; round++) {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, dir, 'crash.test'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`writer exited early (${code})`)));
    });
    await sleep(10 + Math.floor(Math.random() * 100));
    child.kill('SIGKILL');
    await exited;
    try {
      if ((await new FileCertificateStore(dir).loadCertificate('crash.test')) !== undefined) loaded++;
      else if (loaded > 0) vanished++;
    } catch {
      unreadable++;
    }
  }
  t.equal(unreadable, 0, 'never unreadable after a kill');
  t.ok(loaded > 0, `a version was committed before some kill (${loaded}/20 rounds load one)`);
  t.equal(vanished, 0, 'once one was committed, every later kill leaves one that loads');

  // Leftovers of a crash are swept once old (temp files: a minute; uncommitted versions: ten); pretend the time has passed.
  const old = new Date(Date.now() - 30 * 60_000);
  const leftovers = async () => {
    const names: string[] = [];
    for (const sub of ['crash.test', 'accounts']) {
      for (const name of await readdir(join(dir, sub))) names.push(join(sub, name));
    }
    return names.filter((name) => name.endsWith('.tmp') || /\/(cert|key)-/.test(name));
  };
  for (const name of await leftovers()) await utimes(join(dir, name), old, old);
  await new FileCertificateStore(dir).sweepLeftovers();
  const remaining = await leftovers();
  t.same(remaining.filter((name) => name.endsWith('.tmp')), [], 'no temp file is left, in the entry or in accounts/');
  t.equal(remaining.length, 2, `only the committed cert and key remain (${remaining.join(', ')})`);
  t.ok(await new FileCertificateStore(dir).loadCertificate('crash.test'), 'which load');
});

t.test('a young temp file is left alone: it may be another writer’s, mid-save', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'accounts'), { recursive: true });
  await writeFile(join(dir, 'accounts', 'abc.key.1234.tmp'), 'partial');
  await writeFile(join(dir, 'accounts', 'def.key.5678.tmp'), 'partial');
  const old = new Date(Date.now() - 30 * 60_000);
  await utimes(join(dir, 'accounts', 'def.key.5678.tmp'), old, old);
  await new FileCertificateStore(dir).sweepLeftovers();
  t.same(await readdir(join(dir, 'accounts')), ['abc.key.1234.tmp'], 'the minute-old one is gone, the young one kept');
});

t.test('file lock: one holder at a time across lock objects, fences increase', async (t) => {
  const dir = await tempDir(t);
  const locks = [new FileNameLock(dir, { pollMs: 5 }), new FileNameLock(dir, { pollMs: 5 })];
  let inside = 0;
  let overlaps = 0;
  const fences: number[] = [];
  await Promise.all(
    locks.map(async (lock) => {
      for (let i = 0; i < 15; i++) {
        const lease = await lock.acquire('a.test');
        if (++inside > 1) overlaps++;
        fences.push(lease.fence);
        await sleep(2);
        inside--;
        await lease.release();
      }
    }),
  );
  t.equal(overlaps, 0, 'never two holders');
  t.same(fences, [...fences].sort((a, b) => a - b), 'each holder’s fence is larger than the one before');
  t.equal(new Set(fences).size, 30, 'and never repeats');
  t.same((await readdir(dir)).filter((n) => n.endsWith('.lock')), [], 'no lock file left after release');
});

t.test('file lock: refreshed while held, broken when stale, released only by its holder', async (t) => {
  const dir = await tempDir(t);
  const options = { leaseMs: 400, pollMs: 20 };
  const holder = new FileNameLock(dir, options);
  const waiter = new FileNameLock(dir, options);
  const lease = await holder.acquire('b.test');
  // Held three leases long: a refreshed lock is not stale, so the waiter gives up.
  await t.rejects(waiter.acquire('b.test', { signal: AbortSignal.timeout(1_200) }), { name: 'TimeoutError' }, 'a refreshed lock is never broken');
  t.ok(lease.stillHeld(), 'the holder still holds it');
  await lease.release();
  t.ok(!lease.stillHeld(), 'not after release');

  // A holder that died: its lock file is no longer refreshed.
  await writeFile(join(dir, 'c.test.lock'), 'dead-host:1:token');
  const old = new Date(Date.now() - 60_000);
  await utimes(join(dir, 'c.test.lock'), old, old);
  const started = Date.now();
  const taken = await waiter.acquire('c.test', { signal: AbortSignal.timeout(5_000) });
  t.ok(Date.now() - started < 5_000, 'a stale lock is broken and taken');

  // The taker stalls past its lease and someone else takes the name: the first learns it lost it, and its release leaves the new lock alone.
  await writeFile(join(dir, 'c.test.lock'), 'other-host:2:token');
  for (let i = 0; i < 100 && taken.stillHeld(); i++) await sleep(20);
  t.notOk(taken.stillHeld(), 'stillHeld() turns false once another holder is seen');
  await taken.release();
  t.equal((await readdir(dir)).includes('c.test.lock'), true, 'release did not remove the other holder’s lock');
});

t.test('memory lock: one holder at a time, fences increase, a waiter that gives up does not block the next', async (t) => {
  const lock = new MemoryNameLock();
  const first = await lock.acquire('m.test');
  // A ref'd timer: AbortSignal.timeout's is unref'd, and nothing else here keeps the process up while we wait.
  const giveUp = new AbortController();
  setTimeout(() => giveUp.abort(new DOMException('gave up', 'TimeoutError')), 50);
  const gaveUp = lock.acquire('m.test', { signal: giveUp.signal });
  const next = lock.acquire('m.test');
  await t.rejects(gaveUp, { name: 'TimeoutError' }, 'the waiter gives up while the name is held');
  t.ok(first.stillHeld());
  await first.release();
  const second = await next;
  t.ok(second.fence > first.fence, 'the next holder gets it, with a larger fence');
  t.notOk(first.stillHeld());
  await second.release();
});
