// With a shared challenge store, the proxy that holds the ACME port answers
// tokens other processes placed, with no order of its own pending; it keeps
// the challenge route only while a user route holds the port and never binds
// the port for it alone, nor turns a raw TCP port into an HTTP one for it.
// With a store of its own (not shared) nothing changes: the route exists only
// while this process has an order pending.
import t from 'tap';
import { MemoryChallengeStore, SmartProxy, type IRouteConfig } from '../ts/index.js';
import { httpGet, silentLogger, startHttpBackend } from './helpers/backends.js';
import { eventually } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

class SharedMemoryChallengeStore extends MemoryChallengeStore {
  readonly shared = true;
}

const token = 'Tk_0123456789abcdefghijklmnopqrstuvwxyzABC';

async function setup(t: { teardown(fn: () => unknown): void }, shared: boolean, siteDomains: string | null = 'a.test') {
  const backend = await startHttpBackend('site');
  t.teardown(() => backend.close());
  const [acmePort, otherPort, deadCa] = [await getFreePort(), await getFreePort(), await getFreePort()];
  const store = shared ? new SharedMemoryChallengeStore() : new MemoryChallengeStore();
  await store.set(token, `${token}.thumbprint`); // placed by another process's order
  const site: IRouteConfig = { name: 'site', match: { ports: acmePort, domains: siteDomains ?? undefined }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } };
  const other: IRouteConfig = { name: 'other', match: { ports: otherPort }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } };
  const proxy = new SmartProxy({
    host: '127.0.0.1',
    logger: await silentLogger(),
    acme: { email: 'test@example.com', directoryUrl: `https://127.0.0.1:${deadCa}/dir`, port: acmePort, challengeStore: store, certificateStore: `/tmp/smartproxy-unused-${process.pid}` },
    routes: [site, other],
  });
  await proxy.start();
  t.teardown(() => proxy.stop());
  const ask = () => httpGet(acmePort, { host: 'a.test', path: `/.well-known/acme-challenge/${token}` });
  return { proxy, ask, acmePort, site, other };
}

t.test('shared store: the ACME-port holder answers a token it did not place; the route follows the user routes on that port', async (t) => {
  const { proxy, ask, acmePort, site, other } = await setup(t, true);
  await eventually(async () => (await ask()).body === `${token}.thumbprint`, 10_000);
  const answer = await ask();
  t.equal(answer.status, 200, 'answered with no order pending here');
  t.equal(answer.body, `${token}.thumbprint`);
  t.equal(proxy.portManager.getPortRefCount(acmePort), 2, 'the route rides the user route’s listener (one more reference)');

  await proxy.updateRoutes([other]);
  await eventually(() => !proxy.getListeningPorts().includes(acmePort), 10_000);
  t.notOk(proxy.getListeningPorts().includes(acmePort), 'no user route on the ACME port: released, not kept bound for the challenge alone');

  await proxy.updateRoutes([site, other]);
  t.ok(await eventually(async () => (await ask()).body === `${token}.thumbprint`, 10_000), 'back on the port with the user route');
});

t.test('a store of its own: a token this process did not place is not answered (the site gets the path)', async (t) => {
  const { ask } = await setup(t, false);
  const answer = await ask();
  t.not(answer.body, `${token}.thumbprint`);
  t.equal(answer.body.includes('site'), true, 'the user route serves the path');
});

t.test('shared store, but only a raw TCP forward on the ACME port: the port is not turned into an HTTP one for the challenge', async (t) => {
  const { proxy, ask, acmePort } = await setup(t, true, null);
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(proxy.portManager.getPortRefCount(acmePort), 1, 'only the user route holds the port');
  t.not((await ask()).body, `${token}.thumbprint`, 'the forward gets the request, bytes untouched');
});
