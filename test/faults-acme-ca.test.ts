// An ACME CA that stalls or forgets us. acme-client's HTTP client has no
// timeout, so a CA frozen mid-order (SIGSTOP: the kernel still accepts the
// connection, nothing answers) held a name 'pending' forever; acme.timeoutMs
// now bounds every request. A CA that lost our account (restarted, its
// database gone) failed every retry with "account not found" until the
// process restarted; now the same key is registered again. And a
// certificate that nears expiry while renewal keeps failing is called out.
import t from 'tap';
import acme from 'acme-client';
import { AcmeTimeoutError, FileCertificateStore, MemoryChallengeStore, SmartProxy, createSelfSignedCertificate } from '../ts/index.js';
import { readCertificate } from '../ts/certificates/certificate-info.js';
import { silentLogger, startHttpBackend } from './helpers/backends.js';
import { autoRoute, fetchCertificate, once, startAcmeEnv } from './helpers/acme-env.js';

// acme-client retries unreachable CAs 5 times, 5-25 s apart, process-wide; our own backoff is what is under test.
const axiosDefaults = acme.axios.defaults as typeof acme.axios.defaults & { acmeSettings: Record<string, unknown> };
axiosDefaults.acmeSettings = { ...axiosDefaults.acmeSettings, retryMaxAttempts: 0 };

const timeoutMs = 2_000;
// Generous: the machine is shared; what matters is that the failure comes at all, and not minutes later.
const marginMs = 10_000;

type Failed = { domain: string; error: Error & { code?: string; cause?: unknown }; retryAt?: Date };

/** Tokens in memory; calls `armed` once, right after the next token is published (the middle of an order). */
class TrippingChallengeStore extends MemoryChallengeStore {
  armed: (() => void) | undefined;

  override async set(token: string, keyAuthorization: string): Promise<void> {
    await super.set(token, keyAuthorization);
    const trip = this.armed;
    this.armed = undefined;
    trip?.();
  }
}

t.test('CA frozen mid-order: certificate-failed within timeoutMs with an AcmeTimeoutError, the backoff continues, a later attempt issues', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const challenges = new TrippingChallengeStore();
  let frozenAt = 0;
  challenges.armed = () => {
    env.pebble.freeze();
    frozenAt = Date.now();
  };
  t.teardown(() => env.pebble.thaw());
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), acme: env.acme({ timeoutMs, challengeStore: challenges }), routes: [autoRoute(env.tlsPort, 'frozen.test', backend.port)] });
  const failed = once<Failed>(proxy, 'certificate-failed', timeoutMs + marginMs + 10_000);
  await proxy.start();
  t.teardown(() => proxy.stop());
  const event = await failed;
  const tookMs = Date.now() - frozenAt;
  t.ok(frozenAt > 0, 'the CA was frozen with the order under way');
  t.ok(tookMs < timeoutMs + marginMs, `certificate-failed came ${tookMs} ms after the freeze (timeoutMs ${timeoutMs})`);
  t.equal(event.error.code, 'ERR_CERTIFICATE');
  t.ok(event.error.cause instanceof AcmeTimeoutError, `the cause is an AcmeTimeoutError: ${event.error.message}`);
  t.match(event.error.message, /did not answer .* within 2000 ms/, 'the message says what timed out');
  const status = proxy.certificateManager.getCertificateStatus('frozen.test');
  t.equal(status?.status, 'error', 'no longer pending');
  t.ok(event.retryAt !== undefined && event.retryAt.getTime() - Date.now() > 30_000, 'the next attempt is a backoff away, not at once');
  t.equal(status?.nextRenewal?.getTime(), event.retryAt?.getTime(), 'and it is scheduled');

  env.pebble.thaw();
  const issued: string[] = [];
  proxy.on('certificate-issued', ({ domain }) => issued.push(domain));
  t.equal((await proxy.certificateManager.provisionCertificate('frozen.test')).status, 'valid', 'once the CA answers again, an attempt issues');
  t.same(issued, ['frozen.test']);
  t.ok((await fetchCertificate(env.tlsPort, 'frozen.test', await env.pebble.getRoots())).authorized);
});

t.test('CA frozen mid-renewal: certificate-failed within timeoutMs, the current certificate keeps serving', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const challenges = new TrippingChallengeStore();
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), acme: env.acme({ timeoutMs, challengeStore: challenges }), routes: [autoRoute(env.tlsPort, 'renew.test', backend.port)] });
  const issued = once(proxy, 'certificate-issued');
  await proxy.start();
  t.teardown(() => proxy.stop());
  await issued;
  const roots = await env.pebble.getRoots();
  const before = await fetchCertificate(env.tlsPort, 'renew.test', roots);

  let frozenAt = 0;
  challenges.armed = () => {
    env.pebble.freeze();
    frozenAt = Date.now();
  };
  t.teardown(() => env.pebble.thaw());
  const failed = once<Failed>(proxy, 'certificate-failed', timeoutMs + marginMs + 10_000);
  await t.rejects(proxy.certificateManager.provisionCertificate('renew.test'), { code: 'ERR_CERTIFICATE' });
  const event = await failed;
  t.ok(frozenAt > 0 && Date.now() - frozenAt < timeoutMs + marginMs, `the renewal failed ${Date.now() - frozenAt} ms after the freeze`);
  t.ok(event.error.cause instanceof AcmeTimeoutError, 'because the CA did not answer in time');
  t.equal(proxy.certificateManager.getCertificateStatus('renew.test')?.status, 'valid', 'the current certificate stays valid');
  t.equal((await fetchCertificate(env.tlsPort, 'renew.test', roots)).leaf.serialNumber, before.leaf.serialNumber, 'and is served');
});

t.test('a certificate near expiry with the CA frozen: certificate-expiring (and a warning) on the failed renewal, certificate-expired when it lapses', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  // Stored by an earlier run: valid for 20 more seconds, so due for renewal at once.
  const lifetimeMs = 20_000;
  const pair = createSelfSignedCertificate({ domains: ['lapse.test'], days: lifetimeMs / 86_400_000 });
  const facts = readCertificate(pair.cert);
  await new FileCertificateStore(env.storeDir).saveCertificate('lapse.test', { cert: pair.cert, key: pair.key, issuedAt: facts.notBefore, expiresAt: facts.notAfter, source: 'acme' });
  env.pebble.freeze();
  t.teardown(() => env.pebble.thaw());

  const warnings: string[] = [];
  const { pino } = await import('pino');
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push((JSON.parse(line) as { msg: string }).msg) });
  const proxy = new SmartProxy({ host: '127.0.0.1', logger, acme: env.acme({ timeoutMs }), routes: [autoRoute(env.tlsPort, 'lapse.test', backend.port)] });
  const expiring = once<{ domain: string; expiryDate: Date; error: Error; retryAt?: Date }>(proxy, 'certificate-expiring', timeoutMs + marginMs + 10_000);
  const expired = once<{ domain: string; expiryDate: Date }>(proxy, 'certificate-expired', lifetimeMs + marginMs + 10_000);
  await proxy.start();
  t.teardown(() => proxy.stop());

  const soon = await expiring;
  t.equal(soon.domain, 'lapse.test');
  t.equal(soon.expiryDate.getTime(), facts.notAfter.getTime(), 'it names the expiry of the certificate served');
  t.match(soon.error.message, /did not answer/, 'and why renewing failed');
  t.ok(warnings.some((m) => /expires soon/.test(m)), 'a warning is logged');
  t.equal(proxy.certificateManager.getCertificateStatus('lapse.test')?.status, 'valid', 'still valid meanwhile');

  const lapsed = await expired;
  t.equal(lapsed.domain, 'lapse.test');
  t.ok(Date.now() >= facts.notAfter.getTime(), 'certificate-expired comes once the certificate has lapsed');
  t.equal(proxy.certificateManager.getCertificateStatus('lapse.test')?.status, 'expired');
});

t.test('CA restarted and our account lost: the next attempt registers the same key again and issues', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), acme: env.acme({ timeoutMs: 10_000 }), routes: [autoRoute(env.tlsPort, 'account.test', backend.port)] });
  const issued = once(proxy, 'certificate-issued');
  await proxy.start();
  t.teardown(() => proxy.stop());
  await issued;
  const store = new FileCertificateStore(env.storeDir);
  const key = await store.loadAccountKey(env.pebble.directoryUrl);

  await env.pebble.restart();
  const renewed = once<{ domain: string }>(proxy, 'certificate-renewed');
  const status = await proxy.certificateManager.provisionCertificate('account.test');
  t.equal(status.status, 'valid');
  t.equal((await renewed).domain, 'account.test', 'renewed against the restarted CA');
  t.ok((await fetchCertificate(env.tlsPort, 'account.test', await env.pebble.getRoots())).authorized, 'signed by the new CA root');
  t.equal(await store.loadAccountKey(env.pebble.directoryUrl), key, 'with the same account key');
});
