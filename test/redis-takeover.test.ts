// An instance that dies or stalls while it holds a name's order lock in
// Redis. Killed (SIGKILL, Pebble paused so it is mid-order): the other
// instance, waiting for the name, takes it over once the lease expires and
// finishes it. Stalled (SIGSTOP) past its lease: the other one takes over
// and saves; when the stalled one resumes, its late save is refused (the
// lease it carries is no longer the lock's holder, checked in the save's
// own script) and it serves the stored certificate instead of its own.
import t from 'tap';
import acme from 'acme-client';
import type { IRouteConfig } from '../ts/index.js';
import { startHttpBackend } from './helpers/backends.js';
import { autoRoute, fetchCertificate, startAcmeEnv } from './helpers/acme-env.js';
import { issued, logged, startInstance } from './helpers/fleet.js';
import { getFreePort } from './helpers/free-port.js';
import { startRedisServer } from './helpers/redis-server.js';

const axiosDefaults = acme.axios.defaults as typeof acme.axios.defaults & { acmeSettings: Record<string, unknown> };
axiosDefaults.acmeSettings = { ...axiosDefaults.acmeSettings, retryMaxAttempts: 0 };

const leaseMs = 3000;

async function fleet(t: { teardown(fn: () => unknown): void }) {
  const env = await startAcmeEnv(t);
  const redis = await startRedisServer(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const site: IRouteConfig = { name: 'site', match: { ports: env.httpPort, domains: 'site.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } };
  const common = { redisUrl: redis.url, prefix: 'takeover', leaseMs };
  // B holds the ACME port, so it can answer whichever order runs.
  const b = startInstance(t, { ...common, acme: env.acme({ certificateStore: undefined, timeoutMs: 60_000 }), routes: [site] });
  await b.waitFor((e) => e.event === 'started', 30_000);
  const acmeA = env.acme({ certificateStore: undefined, port: await getFreePort(), timeoutMs: 60_000 });
  return { env, backend, site, common, b, acmeA };
}

t.test('the lock holder killed mid-order: the other instance finishes the name once the lease expires', { timeout: 90_000 }, async (t) => {
  const { env, backend, site, common, b, acmeA } = await fleet(t);
  const [tlsA, tlsB] = [await getFreePort(), env.tlsPort];
  env.pebble.freeze(); // A's order hangs with the lock held
  t.teardown(() => env.pebble.thaw());
  const a = startInstance(t, { ...common, acme: acmeA, routes: [autoRoute(tlsA, 'killed.test', backend.port)] });
  await a.waitFor(logged(/ordering certificate/, 'killed.test'), 30_000);
  await b.setRoutes([site, autoRoute(tlsB, 'killed.test', backend.port)]); // B now waits for the name
  a.signal('SIGKILL');
  await a.exited;
  env.pebble.thaw();
  const started = Date.now();
  const outcome = await b.waitFor(issued('killed.test'), 60_000);
  t.equal(outcome.event, 'certificate-issued', `B issued killed.test ${Date.now() - started} ms after A died (lease ${leaseMs} ms) ${outcome.message ?? ''}`);
  t.ok((await fetchCertificate(tlsB, 'killed.test', await env.pebble.getRoots())).authorized, 'and serves it');
});

t.test('the lock holder stalled past its lease: its late save is refused and it serves the new holder’s certificate', { timeout: 90_000 }, async (t) => {
  const { env, backend, site, common, b, acmeA } = await fleet(t);
  const [tlsA, tlsB] = [await getFreePort(), env.tlsPort];
  // A obtains through a provision function that takes 4 s, so it is stopped between taking the lock and saving.
  const a = startInstance(t, { ...common, acme: acmeA, slowProvisionMs: 4000, routes: [autoRoute(tlsA, 'late.test', backend.port)] });
  await a.waitFor((e) => e.event === 'provisioning' && e.domain === 'late.test', 30_000);
  a.signal('SIGSTOP');
  await b.setRoutes([site, autoRoute(tlsB, 'late.test', backend.port)]);
  const taken = await b.waitFor(issued('late.test'), 60_000);
  t.equal(taken.event, 'certificate-issued', `B took the name over after A's lease expired and saved (${taken.message ?? ''})`);
  a.signal('SIGCONT');
  await a.waitFor(logged(/late save was refused/, 'late.test'), 30_000);
  t.pass('A resumed, finished its work and had its save refused');
  t.notOk(a.events.some((e) => e.event === 'certificate-issued' && e.domain === 'late.test'), 'A reports no certificate of its own');
  const roots = await env.pebble.getRoots();
  const [fromA, fromB] = [await fetchCertificate(tlsA, 'late.test', roots), await fetchCertificate(tlsB, 'late.test', roots)];
  t.ok(fromA.authorized, 'A serves the CA-issued certificate B stored, not its own');
  t.equal(fromA.leaf.serialNumber, fromB.leaf.serialNumber, 'the same one as B');
});

t.test('the lock holder stalled mid-order: once resumed it stops before finalize and serves the new holder’s certificate', { timeout: 90_000 }, async (t) => {
  const { env, backend, site, common, b, acmeA } = await fleet(t);
  const [tlsA, tlsB] = [await getFreePort(), env.tlsPort];
  env.pebble.freeze(); // so A is stopped before its order gets anywhere, whatever the machine's speed
  t.teardown(() => env.pebble.thaw());
  const a = startInstance(t, { ...common, acme: acmeA, routes: [autoRoute(tlsA, 'abandoned.test', backend.port)] });
  await a.waitFor(logged(/ordering certificate/, 'abandoned.test'), 30_000);
  a.signal('SIGSTOP');
  env.pebble.thaw();
  await b.setRoutes([site, autoRoute(tlsB, 'abandoned.test', backend.port)]);
  const taken = await b.waitFor(issued('abandoned.test'), 60_000);
  t.equal(taken.event, 'certificate-issued', `B took the name over and issued it (${taken.message ?? ''})`);
  const ordersBefore = env.pebble.orderCount();
  a.signal('SIGCONT');
  const outcome = await a.waitFor((e) => logged(/abandoned before finalize|late save was refused/, 'abandoned.test')(e) || issued('abandoned.test')(e), 60_000);
  t.match(outcome.line?.msg ?? outcome.event, /abandoned before finalize/, 'A found its lease gone and stopped before finalize');
  t.notOk(a.events.some((e) => e.event === 'certificate-issued' && e.domain === 'abandoned.test'), 'A reports no certificate of its own');
  const roots = await env.pebble.getRoots();
  const [fromA, fromB] = [await fetchCertificate(tlsA, 'abandoned.test', roots), await fetchCertificate(tlsB, 'abandoned.test', roots)];
  t.equal(fromA.leaf.serialNumber, fromB.leaf.serialNumber, 'A serves B’s certificate');
  t.ok(env.pebble.orderCount() <= ordersBefore + 1, 'A placed at most its one order, never finalized');
});
