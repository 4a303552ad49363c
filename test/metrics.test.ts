import t from 'tap';
import http from 'node:http';
import { createSelfSignedCertificate } from '../ts/index.js';
import { httpGet, startEchoBackend, startHttpBackend, tcpExchange } from './helpers/backends.js';
import { eventually, startProxy } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

t.test('getMetrics counts connections, requests and bytes per route and per port, with ref counts and certificates', async (t) => {
  const backend = await startHttpBackend('b');
  const echo = await startEchoBackend('echo');
  t.teardown(() => backend.close());
  t.teardown(() => echo.close());
  const [httpPort, tcpPort, tlsPort] = [await getFreePort(), await getFreePort(), await getFreePort()];
  const certificate = createSelfSignedCertificate({ domains: ['secure.test'] });
  const proxy = await startProxy(t, [
    { name: 'a', match: { ports: httpPort, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } },
    { name: 'b', match: { ports: httpPort, domains: 'b.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } },
    { name: 'tcp', match: { ports: tcpPort }, action: { type: 'forward', target: { host: '127.0.0.1', port: echo.port } } },
    { name: 'tls', match: { ports: tlsPort, domains: 'secure.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port }, tls: { mode: 'terminate', certificate } } },
  ]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  for (let i = 0; i < 3; i++) await httpGet(httpPort, { host: 'a.test', agent });
  await httpGet(httpPort, { host: 'b.test', agent, method: 'POST', body: 'x'.repeat(1000) });
  t.equal(await tcpExchange(tcpPort, 'hello'), 'echo:hello');
  agent.destroy();
  await eventually(() => proxy.getMetrics().activeConnections === 0);

  const m = proxy.getMetrics();
  t.equal(m.totalConnections, 2, 'one keep-alive HTTP connection and one TCP connection');
  t.equal(m.requests, 4);
  t.equal(m.routes.a?.requests, 3);
  t.equal(m.routes.b?.requests, 1);
  t.ok((m.routes.b?.bytesIn ?? 0) > 1000, 'the POST body counted on its route');
  t.equal(m.routes.tcp?.totalConnections, 1);
  t.equal(m.routes.tcp?.bytesIn, 5);
  t.equal(m.routes.tcp?.bytesOut, 'echo:hello'.length);
  t.equal(m.ports[httpPort]?.requests, 4);
  t.equal(m.ports[httpPort]?.refCount, 2, 'listener reference count');
  t.equal(m.ports[tcpPort]?.refCount, 1);
  t.equal(m.bytesIn, (m.ports[httpPort]?.bytesIn ?? 0) + (m.ports[tcpPort]?.bytesIn ?? 0) + (m.ports[tlsPort]?.bytesIn ?? 0));
  const cert = m.certificates.find((c) => c.domain === 'secure.test');
  t.equal(cert?.source, 'static');
  t.ok(cert?.expiryDate instanceof Date);
});

t.test('a metrics route serves Prometheus text on a port of the user\'s choosing', async (t) => {
  const backend = await startHttpBackend('b');
  t.teardown(() => backend.close());
  const [httpPort, metricsPort] = [await getFreePort(), await getFreePort()];
  await startProxy(t, [
    { name: 'app', match: { ports: httpPort, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } },
    { name: 'metrics', match: { ports: metricsPort, path: '/metrics' }, action: { type: 'metrics' } },
  ]);
  await httpGet(httpPort, { host: 'a.test' });
  await httpGet(httpPort, { host: 'a.test' });
  const res = await httpGet(metricsPort, { path: '/metrics' });
  t.equal(res.status, 200);
  t.match(res.headers['content-type'], /text\/plain; version=0\.0\.4/);
  t.match(res.body, /# TYPE smartproxy_requests_total counter/);
  t.match(res.body, /smartproxy_route_requests_total\{route="app"\} 2/);
  t.match(res.body, new RegExp(`smartproxy_port_routes\\{port="${httpPort}"\\} 1`));
  t.match(res.body, /smartproxy_connections_total \d+/);
  t.notMatch(res.body, /NaN|undefined/);
  t.equal((await httpGet(metricsPort, { path: '/metrics', method: 'POST' })).status, 405);
  t.equal((await httpGet(metricsPort, { path: '/other' })).status, 404);
});
