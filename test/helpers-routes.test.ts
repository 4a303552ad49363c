import t from 'tap';
import http from 'node:http';
import {
  createCertificateAuthority,
  createCompleteHttpsServer,
  createHttpRoute,
  createHttpsPassthroughRoute,
  createHttpsTerminateRoute,
  createHttpToHttpsRedirect,
  createLoadBalancerRoute,
  createSelfSignedCertificate,
  SmartProxy,
  type IRouteConfig,
  type IRouteTarget,
} from '../ts/index.js';
import { httpGet, silentLogger } from './helpers/backends.js';
import { exchange, httpsGet, serve, startProxy, startTlsEcho, tlsConnect, trackSockets } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';
import { proxyInternals } from '../ts/internals.js';

const ca = createCertificateAuthority('helpers test CA');
const cert = createSelfSignedCertificate({ domains: ['site.test', 'www.site.test'], issuer: ca });
const target = { host: '127.0.0.1', port: 8080 };

t.test('createHttpRoute', async (t) => {
  t.same(createHttpRoute('a.test', target), {
    name: 'http:a.test',
    match: { ports: 80, domains: 'a.test' },
    action: { type: 'forward', target: { host: '127.0.0.1', port: 8080 } },
  });
  const hosts = ['10.0.0.1', '10.0.0.2'];
  const custom = createHttpRoute(['a.test', 'b.test'], { host: hosts, port: 'preserve' }, {
    port: [8000, { from: 9000, to: 9001 }],
    name: 'api',
    priority: 5,
    path: '/api/*',
    clientIp: ['10.0.0.0/8'],
    security: { ipBlockList: ['10.0.0.9'], maxConnections: 10 },
  });
  t.same(custom, {
    name: 'api',
    priority: 5,
    match: { ports: [8000, { from: 9000, to: 9001 }], domains: ['a.test', 'b.test'], path: '/api/*', clientIp: ['10.0.0.0/8'] },
    action: { type: 'forward', target: { host: ['10.0.0.1', '10.0.0.2'], port: 'preserve' } },
    security: { ipBlockList: ['10.0.0.9'], maxConnections: 10 },
  });
  hosts.push('10.0.0.3');
  t.same((custom.action.target as IRouteTarget).host, ['10.0.0.1', '10.0.0.2'], "later edits to the caller's arrays do not leak in");
});

t.test('createHttpsTerminateRoute', async (t) => {
  t.same(createHttpsTerminateRoute('a.test', target), {
    name: 'https-terminate:a.test',
    match: { ports: 443, domains: 'a.test' },
    action: { type: 'forward', target, tls: { mode: 'terminate', certificate: 'auto' } },
  });
  const reencrypt = createHttpsTerminateRoute('a.test', target, { certificate: cert, reencrypt: true, port: 8443 });
  t.same(reencrypt.action.tls, { mode: 'terminate-and-reencrypt', certificate: { key: cert.key, cert: cert.cert } });
  t.equal(reencrypt.match.ports, 8443);
  t.equal(reencrypt.name, 'https-terminate-and-reencrypt:a.test');
});

t.test('createHttpsPassthroughRoute', async (t) => {
  t.same(createHttpsPassthroughRoute(['a.test', '*.a.test'], target), {
    name: 'https-passthrough:a.test,*.a.test',
    match: { ports: 443, domains: ['a.test', '*.a.test'] },
    action: { type: 'forward', target, tls: { mode: 'passthrough' } },
  });
  t.equal(createHttpsPassthroughRoute('a.test', target, { port: 9443 }).match.ports, 9443);
});

t.test('createHttpToHttpsRedirect', async (t) => {
  t.same(createHttpToHttpsRedirect('a.test'), {
    name: 'http-to-https:a.test',
    match: { ports: 80, domains: 'a.test' },
    action: { type: 'redirect', redirect: { to: 'https://{domain}{path}?{query}', status: 301 } },
  });
  const custom = createHttpToHttpsRedirect('a.test', { port: 8080, httpsPort: 8443, status: 308 });
  t.same(custom.action.redirect, { to: 'https://{domain}:8443{path}?{query}', status: 308 });
  t.equal(custom.match.ports, 8080);
});

t.test('createCompleteHttpsServer', async (t) => {
  const [https, redirect] = createCompleteHttpsServer('a.test', target, { certificate: cert });
  t.same(https, createHttpsTerminateRoute('a.test', target, { certificate: cert }));
  t.same(redirect, createHttpToHttpsRedirect('a.test'));
  const [named, namedRedirect] = createCompleteHttpsServer('a.test', target, { name: 'site', port: 8443, httpPort: 8080, redirectStatus: 302 });
  t.equal(named.name, 'site');
  t.equal(namedRedirect.name, 'site:redirect');
  t.same(namedRedirect.match.ports, 8080);
  t.same(namedRedirect.action.redirect, { to: 'https://{domain}:8443{path}?{query}', status: 302 });
});

t.test('createLoadBalancerRoute', async (t) => {
  t.same(createLoadBalancerRoute('lb.test', ['10.0.0.1', '10.0.0.2'], 8080), {
    name: 'load-balancer:lb.test',
    match: { ports: 80, domains: 'lb.test' },
    action: { type: 'forward', target: { host: ['10.0.0.1', '10.0.0.2'], port: 8080 } },
  });
  const tls = createLoadBalancerRoute('lb.test', ['10.0.0.1'], 'preserve', { tls: { mode: 'passthrough' } });
  t.equal(tls.match.ports, 443, 'listens on 443 with tls');
  t.same(tls.action.tls, { mode: 'passthrough' });
});

t.test('every helper builds routes the proxy accepts', async (t) => {
  const routes: IRouteConfig[] = [
    createHttpRoute('a.test', target, { port: 1080 }),
    createHttpsTerminateRoute('b.test', target, { certificate: cert, port: 1443 }),
    createHttpsTerminateRoute('c.test', target, { certificate: cert, reencrypt: true, port: 1443 }),
    createHttpsPassthroughRoute('d.test', target, { port: 1443 }),
    createHttpToHttpsRedirect('e.test', { port: 1080, httpsPort: 1443 }),
    ...createCompleteHttpsServer('site.test', target, { certificate: cert, port: 2443, httpPort: 2080 }),
    createLoadBalancerRoute('lb.test', ['127.0.0.1', '127.0.0.2'], 8080, { port: 1080 }),
    createLoadBalancerRoute('tls-lb.test', ['127.0.0.1'], 8443, { port: 1443, tls: { mode: 'terminate', certificate: cert } }),
  ];
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), routes: [] });
  t.teardown(() => proxy.stop());
  t.doesNotThrow(() => proxyInternals(proxy).routes.prepare(routes), 'validates');
});

t.test('helper routes serve: complete HTTPS server with its redirect, passthrough and load balancer', async (t) => {
  const httpsPort = await getFreePort();
  const httpPort = await getFreePort();
  const web = await serve(t, trackSockets(http.createServer((req, res) => res.end(`web ${req.url} ${req.headers['x-forwarded-proto']}`))));
  const tlsEcho = await startTlsEcho(t, 'P', createSelfSignedCertificate({ domains: ['pass.test'] }));
  await startProxy(t, [
    ...createCompleteHttpsServer(['site.test', 'www.site.test'], { host: '127.0.0.1', port: web.port }, { certificate: cert, port: httpsPort, httpPort }),
    createHttpsPassthroughRoute('pass.test', { host: '127.0.0.1', port: tlsEcho.port }, { port: httpsPort }),
    createLoadBalancerRoute('lb.test', ['127.0.0.1'], web.port, { port: httpPort }),
  ]);
  const redirect = await httpGet(httpPort, { host: 'www.site.test', path: '/page?x=1' });
  t.equal(redirect.status, 301);
  t.equal(redirect.headers.location, `https://www.site.test:${httpsPort}/page?x=1`);
  const page = await httpsGet(httpsPort, { servername: 'www.site.test', path: '/page?x=1', ca: ca.cert });
  t.equal(page.body, 'web /page?x=1 https');
  t.equal(page.subject, 'site.test');
  const passed = await tlsConnect(httpsPort, { servername: 'pass.test' });
  t.equal(await exchange(passed, 'x', 3), 'P:x');
  passed.destroy();
  t.equal((await httpGet(httpPort, { host: 'lb.test', path: '/lb' })).body, 'web /lb http');
});

t.test('a helper refuses options it does not know, instead of dropping them', async (t) => {
  t.throws(() => createHttpToHttpsRedirect(['app.test'], 8443 as never), {
    code: 'ERR_INVALID_OPTION',
    message: /createHttpToHttpsRedirect\(\) options" should be an object of options such as \{ port: 8443 \} or \{ httpsPort: 8443 \}/,
  });
  t.throws(() => createHttpToHttpsRedirect('app.test', { httpPort: 8443 } as never), { code: 'ERR_INVALID_OPTION', message: /options\.httpPort" is not a known option \(did you mean 'httpsPort'\?\)/ });
  t.throws(() => createHttpsPassthroughRoute('a.test', { host: 'h', port: 1 }, { path: '/x' } as never), { code: 'ERR_INVALID_OPTION' }, 'passthrough has no path');
  t.match(createHttpToHttpsRedirect('app.test', { httpsPort: 8443 }).action.redirect?.to, 'https://{domain}:8443{path}?{query}');
  t.doesNotThrow(() => createCompleteHttpsServer('a.test', { host: 'h', port: 1 }, { httpPort: 8080, port: 8443, redirectStatus: 308, name: 'a' }));
});
