// Two instances as separate processes on one Redis and one Pebble, as two
// machines behind a TCP balancer. The CA's HTTP-01 validation reaches only
// the instance that did not order (B holds the ACME port); the order is
// still answered, from Redis. Then: B serves A's certificate with no order
// of its own; a name both want at the same moment is ordered once (counted
// in Pebble's log); a session begun on A resumes on B (shared ticket keys);
// a renewal on A is served by B without a restart (pub/sub notice);
// with Redis killed both keep serving every name, and an order placed
// meanwhile goes through once Redis is back.
import t from 'tap';
import acme from 'acme-client';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { createClient } from 'redis';
import { RedisStore } from '../ts/redis/index.js';
import { createSelfSignedCertificate, type IRouteConfig } from '../ts/index.js';
import { startHttpBackend } from './helpers/backends.js';
import { autoRoute, fetchCertificate, startAcmeEnv } from './helpers/acme-env.js';
import { issued, logged, startInstance } from './helpers/fleet.js';
import { getFreePort } from './helpers/free-port.js';
import { startRedisServer } from './helpers/redis-server.js';

const axiosDefaults = acme.axios.defaults as typeof acme.axios.defaults & { acmeSettings: Record<string, unknown> };
axiosDefaults.acmeSettings = { ...axiosDefaults.acmeSettings, retryMaxAttempts: 0 };

/** A TLS 1.3 session from one port, offered to another: whether the second resumed it. */
async function resumesAcross(fromPort: number, toPort: number, servername: string, ca: string): Promise<boolean> {
  const session = await new Promise<Buffer>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: fromPort, servername, ca });
    const timer = setTimeout(() => reject(new Error('no session ticket within 5 s')), 5_000);
    socket.once('session', (ticket: Buffer) => {
      clearTimeout(timer);
      socket.end();
      resolve(ticket);
    });
    socket.on('error', reject);
  });
  return new Promise<boolean>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: toPort, servername, ca, session }, () => {
      const reused = socket.isSessionReused();
      socket.end();
      resolve(reused);
    });
    socket.on('error', reject);
  });
}

t.test('two instances on one Redis: challenges answered by either, one order per name, shared sessions, Redis outage', { timeout: 150_000 }, async (t) => {
  const env = await startAcmeEnv(t);
  const redis = await startRedisServer(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const [tlsA, tlsB, acmePortA] = [env.tlsPort, await getFreePort(), await getFreePort()];
  const common = { redisUrl: redis.url, prefix: 'fleet', leaseMs: 3000 };
  const site: IRouteConfig = { name: 'site', match: { ports: env.httpPort, domains: 'site.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } };

  // B holds the port the CA dials for HTTP-01; A answers on a port the CA never reaches.
  const b = startInstance(t, { ...common, acme: env.acme({ certificateStore: undefined, timeoutMs: 10_000 }), routes: [site] });
  await b.waitFor((e) => e.event === 'started', 30_000);
  const a = startInstance(t, { ...common, acme: env.acme({ certificateStore: undefined, port: acmePortA, timeoutMs: 10_000 }), routes: [autoRoute(tlsA, 'one.test', backend.port)] });
  const first = await a.waitFor(issued('one.test'));
  t.equal(first.event, 'certificate-issued', `A's order was validated through B, which answered from Redis (${first.message ?? ''})`);
  t.equal(env.pebble.orderCount(), 1, 'one order in Pebble');

  await b.setRoutes([site, autoRoute(tlsB, 'one.test', backend.port)]);
  await b.waitFor(logged(/serving stored certificate/, 'one.test'), 15_000);
  const roots = await env.pebble.getRoots();
  const [fromA, fromB] = [await fetchCertificate(tlsA, 'one.test', roots), await fetchCertificate(tlsB, 'one.test', roots)];
  t.ok(fromB.authorized, 'B serves a certificate that verifies');
  t.equal(fromB.leaf.serialNumber, fromA.leaf.serialNumber, 'the same certificate as A');
  t.equal(env.pebble.orderCount(), 1, 'with no new order');

  // Both want race.test at the same moment.
  const both = [autoRoute(tlsA, ['one.test', 'race.test'], backend.port)];
  await Promise.all([a.setRoutes(both), b.setRoutes([site, autoRoute(tlsB, ['one.test', 'race.test'], backend.port)])]);
  const settled = (e: Parameters<ReturnType<typeof issued>>[0]) => issued('race.test')(e) || logged(/serving stored certificate|another process|another instance/, 'race.test')(e);
  const outcomes = await Promise.all([a.waitFor(settled), b.waitFor(settled)]);
  t.equal(outcomes.filter((e) => e.event === 'certificate-issued').length, 1, 'one instance ordered race.test, the other loaded it');
  t.notOk(outcomes.some((e) => e.event === 'certificate-failed'), 'nothing failed');
  t.equal(env.pebble.orderCount(), 2, 'exactly one more order in Pebble');
  const [raceA, raceB] = [await fetchCertificate(tlsA, 'race.test', roots), await fetchCertificate(tlsB, 'race.test', roots)];
  t.equal(raceA.leaf.serialNumber, raceB.leaf.serialNumber, 'both serve the one race.test certificate');

  t.ok(await resumesAcross(tlsA, tlsB, 'one.test', roots), 'a TLS session begun on A resumes on B');
  t.ok(await resumesAcross(tlsB, tlsA, 'race.test', roots), 'and one begun on B resumes on A');

  // A renewal on A reaches B without a restart (the save's pub/sub notice).
  a.renew('one.test');
  await a.waitFor((e) => e.event === 'certificate-renewed' && e.domain === 'one.test', 30_000);
  await b.waitFor(logged(/another instance stored a newer certificate/, 'one.test'), 15_000);
  const [renewedA, renewedB] = [await fetchCertificate(tlsA, 'one.test', roots), await fetchCertificate(tlsB, 'one.test', roots)];
  t.not(renewedA.leaf.serialNumber, fromA.leaf.serialNumber, 'A serves its renewed certificate');
  t.equal(renewedB.leaf.serialNumber, renewedA.leaf.serialNumber, 'and B serves it too, without a restart');

  // Redis goes away: traffic goes on from memory; an order placed meanwhile waits for it.
  await redis.kill();
  for (const [instance, port] of [['A', tlsA], ['B', tlsB]] as const) {
    for (const name of ['one.test', 'race.test']) {
      const served = await fetchCertificate(port, name, roots);
      t.ok(served.authorized, `${instance} still serves ${name} with Redis down`);
    }
  }
  await a.setRoutes([autoRoute(tlsA, ['one.test', 'race.test', 'after.test'], backend.port)]);
  const failed = await a.waitFor(issued('after.test'), 30_000);
  t.equal(failed.event, 'certificate-failed', `an order with Redis down fails and backs off (${failed.message ?? ''})`);
  await redis.restart();
  const resumed = await a.waitFor((e) => e.event === 'certificate-issued' && e.domain === 'after.test', 30_000);
  t.ok(resumed, 'the order goes through once Redis is back, without waiting for its backoff');
  t.ok((await fetchCertificate(tlsA, 'after.test', roots)).authorized, 'and the new name is served');
  for (const [name, instance] of [['A', a], ['B', b]] as const) {
    const outages = instance.logs(/Redis is unreachable/).length;
    t.ok(outages >= 1 && outages <= 2, `${name} logged the outage once per connection (${outages} lines), not per attempt`);
  }
  t.ok(a.logs(/could not take the shared order lock/).length <= 1, 'and the failing lock once');
});

t.test('TLS-ALPN-01 answered by the instance that did not order, from Redis', { timeout: 60_000 }, async (t) => {
  const env = await startAcmeEnv(t);
  const redis = await startRedisServer(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const common = { redisUrl: redis.url, prefix: 'alpn', leaseMs: 3000 };
  // B holds the TLS port the CA dials (with a certificate of its own for another name); A orders elsewhere.
  const own = createSelfSignedCertificate({ domains: ['b.test'] });
  const bRoute: IRouteConfig = { name: 'b', match: { ports: env.tlsPort, domains: 'b.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port }, tls: { mode: 'terminate', certificate: own } } };
  const acmeOptions = (port: number) => env.acme({ certificateStore: undefined, port, challengeTypes: ['tls-alpn-01'], timeoutMs: 10_000 });
  const b = startInstance(t, { ...common, acme: acmeOptions(await getFreePort()), routes: [bRoute] });
  await b.waitFor((e) => e.event === 'started', 30_000);
  const tlsA = await getFreePort();
  const a = startInstance(t, { ...common, acme: acmeOptions(await getFreePort()), routes: [autoRoute(tlsA, 'alpn.test', backend.port)] });
  const outcome = await a.waitFor(issued('alpn.test'));
  t.equal(outcome.event, 'certificate-issued', `A's TLS-ALPN-01 challenge was answered by B from Redis (${outcome.message ?? ''})`);
  t.ok((await fetchCertificate(tlsA, 'alpn.test', await env.pebble.getRoots())).authorized, 'and A serves it');
});

t.test('a missed change notice costs at most one sync interval', { timeout: 60_000 }, async (t) => {
  const redis = await startRedisServer(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const writer = new RedisStore({ url: redis.url, prefix: 'sync' });
  t.teardown(() => writer.close());
  const stored = (days: number) => {
    const pair = createSelfSignedCertificate({ domains: ['sync.test'], days });
    const facts = new X509Certificate(pair.cert);
    return { ...pair, issuedAt: new Date(facts.validFrom), expiresAt: new Date(facts.validTo), source: 'acme' as const };
  };
  await writer.certificates.saveCertificate('sync.test', stored(300));
  const tlsPort = await getFreePort();
  const instance = startInstance(t, {
    redisUrl: redis.url,
    prefix: 'sync',
    leaseMs: 3000,
    syncIntervalMs: 1000,
    acme: { email: 'test@example.com', directoryUrl: 'https://127.0.0.1:1/dir' }, // never asked: the stored certificate is good
    routes: [autoRoute(tlsPort, 'sync.test', backend.port)],
  });
  await instance.waitFor(logged(/serving stored certificate/, 'sync.test'), 30_000);
  // Written behind the instance's back, as if its notice were lost: no PUBLISH.
  const newer = stored(301);
  const raw = createClient({ url: redis.url });
  await raw.connect();
  t.teardown(() => raw.close());
  const before = instance.events.length;
  await raw.hSet('{sync}:cert:sync.test', { cert: newer.cert, key: newer.key, issuedAt: newer.issuedAt.toISOString(), expiresAt: newer.expiresAt.toISOString(), source: 'acme', fence: '0' });
  await instance.waitFor(logged(/another instance stored a newer certificate/, 'sync.test'), 15_000, before);
  const served = await fetchCertificate(tlsPort, 'sync.test', newer.cert);
  t.equal(served.leaf.serialNumber, new X509Certificate(newer.cert).serialNumber, 'the instance serves the certificate it was never told about');
});
