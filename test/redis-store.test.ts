// RedisStore against a real redis-server: the lease lock (exclusive, fenced,
// freed by expiry), the fenced save (refused once the lease passed on, in the
// same script as the write), certificates, challenges, change notifications
// and shared ticket keys across two store objects (as two instances).
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { readCertificate } from '../ts/certificates/certificate-info.js';
import { createSelfSignedCertificate } from '../ts/certificates/self-signed.js';
import type { IStoredCertificate } from '../ts/certificates/store.js';
import { LeaseLostError } from '../ts/errors.js';
import { RedisStore } from '../ts/redis/index.js';
import { startRedisServer } from './helpers/redis-server.js';

function certificate(domain: string): IStoredCertificate {
  const pair = createSelfSignedCertificate({ domains: [domain] });
  const facts = readCertificate(pair.cert);
  return { cert: pair.cert, key: pair.key, issuedAt: facts.notBefore, expiresAt: facts.notAfter, source: 'acme' };
}

async function stores(t: { teardown(fn: () => unknown): void }, options: { leaseMs?: number; ticketRotationMs?: number } = {}) {
  const redis = await startRedisServer(t);
  const prefix = `t${Date.now()}`;
  const a = new RedisStore({ url: redis.url, prefix, lockPollMs: 20, ...options });
  const b = new RedisStore({ url: redis.url, prefix, lockPollMs: 20, ...options });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  return { redis, a, b };
}

/** Blocks the event loop, as a stalled process: no renewal can run. */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

t.test('the lock is exclusive and fenced; a waiter gets it once it is released', async (t) => {
  const { a, b } = await stores(t);
  const first = await a.certificates.nameLock!.acquire('x.test');
  let second: Awaited<ReturnType<NonNullable<typeof b.certificates.nameLock>['acquire']>> | undefined;
  const waiting = b.certificates.nameLock!.acquire('x.test').then((lease) => (second = lease));
  await sleep(200);
  t.equal(second, undefined, 'the second instance waits while the first holds the name');
  await first.release();
  await waiting;
  t.ok(second!.fence > first.fence, `a later holder carries a larger fence (${first.fence} then ${second!.fence})`);
  t.ok(second!.stillHeld(), 'and holds it');
  await second!.release();
});

t.test('a holder stalled past its lease loses the name, and its late save is refused', async (t) => {
  const { a, b } = await stores(t, { leaseMs: 300 });
  // Made first: generating a key blocks the event loop longer than this short lease.
  const [theirs, ours] = [certificate('late.test'), certificate('late.test')];
  const stalled = await a.certificates.nameLock!.acquire('late.test');
  stall(600); // the lease expires in Redis meanwhile; no renewal ran
  t.notOk(stalled.stillHeld(), 'the stalled holder knows its lease is overdue');
  const taker = await b.certificates.nameLock!.acquire('late.test', { signal: AbortSignal.timeout(5000) });
  t.ok(taker.fence > stalled.fence, 'another instance took the name over with a larger fence');
  await b.certificates.saveCertificate('late.test', theirs, taker);
  await t.rejects(a.certificates.saveCertificate('late.test', ours, stalled), LeaseLostError, 'the late save is refused');
  t.equal((await a.certificates.loadCertificate('late.test'))?.cert, theirs.cert, 'the store keeps the new holder’s certificate');
  await taker.release();
  await t.rejects(a.certificates.saveCertificate('late.test', ours, stalled), LeaseLostError, 'and still refused once the new holder let go: the fence moved on');
  await stalled.release();
});

t.test('a lease that lapsed with nobody taking the name still saves', async (t) => {
  const { a } = await stores(t, { leaseMs: 300 });
  const mine = certificate('lapsed.test');
  const lapsed = await a.certificates.nameLock!.acquire('lapsed.test');
  stall(600);
  t.notOk(lapsed.stillHeld(), 'overdue');
  await a.certificates.saveCertificate('lapsed.test', mine, lapsed);
  t.equal((await a.certificates.loadCertificate('lapsed.test'))?.cert, mine.cert, 'saved: the fence shows nobody took the name since');
  await lapsed.release();
});

t.test('a lease is renewed while held, well past its length', async (t) => {
  const { a, b } = await stores(t, { leaseMs: 300 });
  const lease = await a.certificates.nameLock!.acquire('long.test');
  await sleep(1000);
  t.ok(lease.stillHeld(), 'still held after three leases');
  await t.rejects(b.certificates.nameLock!.acquire('long.test', { signal: AbortSignal.timeout(300) }), 'nobody else could take it');
  await lease.release();
});

t.test('certificates, account keys and challenges round-trip; saves are announced to every instance', async (t) => {
  const { a, b } = await stores(t);
  const heard: string[] = [];
  b.onCertificateChanged((domain) => heard.push(domain));
  await sleep(300); // the subscription is made in the background once connected
  const stored = certificate('rt.test');
  await a.certificates.saveCertificate('rt.test', stored);
  const loaded = await b.certificates.loadCertificate('rt.test');
  t.equal(loaded?.cert, stored.cert, 'the other instance loads it');
  t.equal(loaded?.expiresAt.getTime(), stored.expiresAt.getTime(), 'with its dates');
  for (let i = 0; i < 50 && heard.length === 0; i++) await sleep(20);
  t.same(heard, ['rt.test'], 'and hears of it');
  t.equal(await b.certificates.loadCertificate('none.test'), undefined, 'an unknown name is undefined');

  await a.certificates.saveAccountKey('https://ca.test/dir', 'KEY');
  t.equal(await b.certificates.loadAccountKey('https://ca.test/dir'), 'KEY', 'account keys are shared');

  await a.challenges.set('tok_1234567890abcdef', 'tok.auth');
  t.equal(await b.challenges.get('tok_1234567890abcdef'), 'tok.auth', 'HTTP-01 tokens are shared');
  await a.challenges.delete('tok_1234567890abcdef');
  t.equal(await b.challenges.get('tok_1234567890abcdef'), undefined, 'and removed');
  await a.challenges.setAlpn('alpn.test', { key: stored.key, cert: stored.cert });
  t.equal((await b.challenges.getAlpn('alpn.test'))?.cert, stored.cert, 'TLS-ALPN-01 answers are shared');
});

t.test('session ticket keys: one key across instances, rotated at the same boundary', async (t) => {
  const { a, b } = await stores(t, { ticketRotationMs: 1500 });
  await sleep(300);
  await Promise.all([a.ticketKeys.sync(), b.ticketKeys.sync()]);
  t.equal(a.ticketKeys.ticketKeys().length, 48, 'a key in Node’s format');
  t.ok(a.ticketKeys.ticketKeys().equals(b.ticketKeys.ticketKeys()), 'both instances use the same key');
  const before = a.ticketKeys.ticketKeys();
  const changed = new Promise<Buffer>((resolve) => a.ticketKeys.onTicketKeysChanged(resolve));
  const rotated = await Promise.race([changed, sleep(5000).then(() => undefined)]);
  t.ok(rotated !== undefined && !rotated.equals(before), 'the key rotates at the epoch boundary');
  await b.ticketKeys.sync();
  t.ok(a.ticketKeys.ticketKeys().equals(b.ticketKeys.ticketKeys()), 'to the same new key on both');
});
