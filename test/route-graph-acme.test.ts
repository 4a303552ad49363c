// During an HTTP-01 issuance against Pebble the challenge route shows in the
// graph as an internal route on the ACME port, tried first, next to the
// user's route; once the order is done it is gone and the port's count drops back.
import t from 'tap';
import { SmartProxy, type IRouteConfig, type IRouteGraph } from '../ts/index.js';
import { challengeRouteName } from '../ts/smart-proxy.js';
import { silentLogger, startHttpBackend } from './helpers/backends.js';
import { once, startAcmeEnv } from './helpers/acme-env.js';

t.test('the ACME challenge route is internal on its port while an issuance runs', async (t) => {
  const env = await startAcmeEnv(t);
  const backend = await startHttpBackend('app');
  t.teardown(() => backend.close());
  const routes: IRouteConfig[] = [
    { name: 'to-https', match: { ports: env.httpPort }, action: { type: 'redirect', redirect: { to: 'https://{domain}{path}' } } },
    { name: 'app', match: { ports: env.tlsPort, domains: 'graph.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port }, tls: { mode: 'terminate', certificate: 'auto' } } },
  ];
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), acme: env.acme(), routes });
  // Each update's graph, read the moment it applies: the challenge route may live only a few milliseconds.
  const graphs: IRouteGraph[] = [];
  proxy.on('routes-updated', () => graphs.push(proxy.getRouteGraph()));
  const issued = once(proxy, 'certificate-issued');
  await proxy.start();
  t.teardown(() => proxy.stop());
  await issued;
  for (let i = 0; i < 50 && graphs.length < 3; i++) await new Promise((r) => setTimeout(r, 20));

  const during = graphs.find((g) => g.ports.some((p) => p.routes.some((r) => r.internal)));
  t.ok(during, 'an update carried the challenge route');
  const port = during?.ports.find((p) => p.port === env.httpPort);
  t.match(port, { port: env.httpPort, mode: 'http', refCount: 2, listening: true });
  t.same(
    port?.routes.map((r) => [r.name, r.internal, r.order]),
    [
      [challengeRouteName, true, -1],
      ['to-https', false, 0],
    ],
    'tried first, marked internal, next to the user route',
  );
  t.same(during?.warnings, [], 'the challenge route is never reported as shadowing a user route');

  const after = proxy.getRouteGraph();
  t.same(
    after.ports.find((p) => p.port === env.httpPort),
    { port: env.httpPort, refCount: 1, listening: true, mode: 'http', routes: [{ name: 'to-https', internal: false, order: 0, priority: 0, layer: 'http' }] },
    'gone once the order is done',
  );
});
