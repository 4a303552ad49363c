// No open proxy. A reverse proxy that can be talked into connecting
// somewhere its routes do not name is an open proxy: it reaches internal
// hosts for anyone and launders their traffic. Here a request or SNI that
// no route matches is answered 404 or closed and reaches no upstream; an
// absolute-form target or CONNECT never picks the upstream; the ACME
// challenge route answers only pending tokens of the exact path shape;
// X-Forwarded-* from an untrusted peer are replaced, not appended; and a
// redirect template cannot be made to emit a header.
import t from 'tap';
import { once } from 'node:events';
import http from 'node:http';
import tls from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import { createCertificateAuthority, createSelfSignedCertificate, MemoryChallengeStore, type IRouteConfig } from '../ts/index.js';
import { createHttp01Responder, challengePathPrefix } from '../ts/certificates/http01-responder.js';
import { challengeRouteName } from '../ts/smart-proxy.js';
import { closed, rawConnect, serve, startHttpServer, startProxy, startRecorder, tlsConnect, trackSockets } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';
import { proxyInternals } from '../ts/internals.js';

const ca = createCertificateAuthority('no open proxy CA');
const cert = createSelfSignedCertificate({ domains: ['a.test', 'b.test'], issuer: ca });

function forward(name: string, port: number, domains: string | undefined, target: number, extra: Partial<IRouteConfig['action']> = {}): IRouteConfig {
  return { name, match: { ports: port, ...(domains ? { domains } : {}) }, action: { type: 'forward', target: { host: '127.0.0.1', port: target }, ...extra } };
}

/** A backend that records each request (method, url, raw headers) and answers 200. */
async function startRecordingBackend(t: Parameters<typeof startHttpServer>[0]) {
  const requests: { method: string; url: string; rawHeaders: string[] }[] = [];
  const server = await startHttpServer(t, (req, res) => {
    requests.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders });
    res.end(`backend saw ${req.url}`);
  });
  return Object.assign(server, { requests });
}

/**
 * Sends raw bytes on a new connection and returns everything received until
 * the proxy closes it (requests say Connection: close). The client does not
 * half-close: an HTTP client's FIN aborts its request in flight, as in Node,
 * nginx and Go.
 */
async function rawExchange(port: number, request: string): Promise<string> {
  const socket = await rawConnect(port);
  const reply = closed(socket);
  socket.write(request);
  return reply;
}

const statusOf = (reply: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0);

t.test('a Host that no route matches is answered 404 and reaches no upstream', async (t) => {
  const backend = await startRecordingBackend(t);
  const recorder = await startRecorder(t);
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', backend.port)]);
  const hosts = ['other.test', `127.0.0.1:${recorder.port}`, `localhost:${recorder.port}`, 'a.test.evil.test', 'evil.a.test', 'xa.test'];
  for (const host of hosts) {
    const reply = await rawExchange(port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    t.equal(statusOf(reply), 404, `Host: ${host} → 404`);
  }
  t.equal(statusOf(await rawExchange(port, 'GET / HTTP/1.0\r\n\r\n')), 400, 'no Host at all → 400 (nothing to route by)');
  t.equal(statusOf(await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n')), 200, 'the routed host is served');
  t.equal(backend.requests.length, 1, 'the backend saw only the routed request');
  t.equal(recorder.received.length, 0, 'nothing else was contacted');
});

t.test('a Host that is not a host name is refused (400), never routed by a wildcard or passed on', async (t) => {
  const backend = await startRecordingBackend(t);
  const port = await getFreePort();
  await startProxy(t, [
    forward('wild', port, '*.a.test', backend.port),
    { name: 'redirect', match: { ports: port, domains: '*.r.test' }, action: { type: 'redirect', redirect: { to: 'https://{domain}{path}' } } },
  ]);
  t.equal(statusOf(await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x.a.test\r\nConnection: close\r\n\r\n')), 200, 'a real subdomain is served');
  for (const host of ['evil.test/.a.test', 'evil.test?.a.test', 'evil.test#.a.test', 'user@evil.test\\.a.test', 'evil.test/x.r.test']) {
    const reply = await rawExchange(port, `GET /p HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    t.equal(statusOf(reply), 400, `Host: ${host} → 400`);
    t.notMatch(reply, /location:/i, 'no redirect built from it');
  }
  t.equal(backend.requests.length, 1, 'only the valid host reached the backend');
});

t.test('a TLS server name that no route matches is closed and reaches no upstream', async (t) => {
  const recorder = await startRecorder(t);
  const backend = await startRecordingBackend(t);
  const port = await getFreePort();
  await startProxy(t, [
    forward('pass', port, 'a.test', recorder.port, { tls: { mode: 'passthrough' } }),
    forward('term', port, 'b.test', backend.port, { tls: { mode: 'terminate', certificate: cert } }),
  ]);
  for (const servername of ['evil.test', `127.0.0.1`, 'x.a.test', undefined]) {
    const socket = tls.connect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), rejectUnauthorized: false });
    const error = await new Promise<string>((resolve) => {
      socket.once('secureConnect', () => resolve('handshake completed'));
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      socket.once('close', () => resolve('closed'));
    });
    socket.destroy();
    t.not(error, 'handshake completed', `SNI ${servername ?? '(none)'}: closed (${error})`);
  }
  t.equal(statusOf(await rawExchange(port, `GET http://127.0.0.1:${recorder.port}/ HTTP/1.1\r\nHost: 127.0.0.1:${recorder.port}\r\n\r\n`)), 0, 'plain HTTP on a TLS-only port is closed unanswered');
  // A terminated connection for b.test asking for another host by Host.
  const secure = await tlsConnect(port, { servername: 'b.test', ca: ca.cert });
  const reply = closed(secure);
  secure.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${recorder.port}\r\nConnection: close\r\n\r\n`);
  t.equal(statusOf(await reply), 404, 'a Host no route names on a terminated connection → 404');
  t.equal(recorder.received.length, 0, 'the passthrough backend was never contacted');
  t.equal(backend.requests.length, 0, 'nor the terminating route’s backend');
});

t.test('an absolute-form request target never chooses the upstream', async (t) => {
  const backend = await startRecordingBackend(t);
  const recorder = await startRecorder(t);
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', backend.port)]);
  const target = `127.0.0.1:${recorder.port}`;
  const close = 'Connection: close\r\n\r\n';
  t.equal(statusOf(await rawExchange(port, `GET http://${target}/secret HTTP/1.1\r\nHost: ${target}\r\n${close}`)), 404, 'absolute-form to another host → 404');
  t.equal(statusOf(await rawExchange(port, `GET http://${target}/secret HTTP/1.0\r\n\r\n`)), 404, 'without Host too');
  t.equal(statusOf(await rawExchange(port, `GET http://${target}/secret HTTP/1.1\r\n${close}`)), 400, 'HTTP/1.1 without Host → 400');
  t.equal(statusOf(await rawExchange(port, `GET http://other.host/ HTTP/1.1\r\nHost: a.test\r\n${close}`)), 400, 'a target naming another host than Host → 400');
  t.equal(statusOf(await rawExchange(port, `GET http://a.test@${target}/ HTTP/1.1\r\nHost: a.test\r\n${close}`)), 400, 'userinfo tricks → 400');
  const reply = await rawExchange(port, `GET http://a.test/x?y=1 HTTP/1.1\r\nHost: a.test\r\n${close}`);
  t.equal(statusOf(reply), 200, 'absolute-form naming the routed host is served');
  t.same(backend.requests.map((r) => r.url), ['/x?y=1'], 'by the route’s own upstream, in origin-form');
  t.equal(recorder.received.length, 0, 'the host named in the target was never contacted');
});

t.test('with a catch-all route, an absolute-form target still goes to the route’s upstream only', async (t) => {
  const backend = await startRecordingBackend(t);
  const recorder = await startRecorder(t);
  const port = await getFreePort();
  await startProxy(t, [forward('all', port, '*', backend.port)]);
  const target = `127.0.0.1:${recorder.port}`;
  const reply = await rawExchange(port, `GET http://${target}/secret HTTP/1.1\r\nHost: ${target}\r\nConnection: close\r\n\r\n`);
  t.equal(statusOf(reply), 200);
  t.match(reply, /backend saw \/secret/, 'the configured upstream answered');
  t.equal(recorder.received.length, 0, 'the host named in the target was never contacted');
});

t.test('CONNECT is refused and tunnels nowhere', async (t) => {
  const backend = await startRecordingBackend(t);
  const recorder = await startRecorder(t);
  const port = await getFreePort();
  await startProxy(t, [forward('all', port, '*', backend.port)]);
  const target = `127.0.0.1:${recorder.port}`;
  for (const request of [
    `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n`,
    'CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n',
  ]) {
    const reply = await rawExchange(port, request);
    const status = statusOf(reply);
    t.notMatch(reply, /^HTTP\/1\.1 200/, 'no tunnel established');
    t.ok(status === 0 || status >= 400, `${request.split('\r\n')[0]}: refused (${status === 0 ? 'closed' : status})`);
  }
  t.equal(recorder.received.length, 0, 'nothing was tunnelled');
  t.equal(backend.requests.length, 0, 'nor forwarded as a request');
});

t.test('the ACME challenge route answers only pending tokens of the exact path shape, and forwards nothing', async (t) => {
  const backend = await startRecordingBackend(t);
  const port = await getFreePort();
  const proxy = await startProxy(t, [forward('site', port, 'a.test', backend.port)]);
  const store = new MemoryChallengeStore();
  const token = 'Xc1_-9aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789a';
  await store.set(token, `${token}.thumbprint`);
  await proxyInternals(proxy).setInternalRoute({
    config: { name: challengeRouteName, priority: Number.MAX_SAFE_INTEGER, match: { ports: port, path: `${challengePathPrefix}*` }, action: { type: 'static' } },
    requestHandler: createHttp01Responder(store),
  });
  const ask = (path: string, method = 'GET', host = 'a.test') => rawExchange(port, `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);

  const ok = await ask(`${challengePathPrefix}${token}`);
  t.equal(statusOf(ok), 200, 'a pending token is answered');
  t.match(ok, new RegExp(`\\r\\n\\r\\n${token}\\.thumbprint$`));
  t.equal(statusOf(await ask(`${challengePathPrefix}${token}`, 'GET', 'any.host')), 200, 'on any Host (the CA asks by the domain being validated)');
  t.equal(statusOf(await ask(`${challengePathPrefix}${token}`, 'HEAD')), 200, 'HEAD too');

  const refused = [
    `${challengePathPrefix}UnknownButWellFormedToken_0123456789`,
    `${challengePathPrefix}${token}/extra`,
    `${challengePathPrefix}${token}?x=1`,
    `${challengePathPrefix}${token}.`,
    `${challengePathPrefix}%2e%2e%2fx`,
    `${challengePathPrefix}..%2fx`,
    `${challengePathPrefix}${token.slice(0, 10)}%41${token.slice(11)}`,
    `${challengePathPrefix}bad$chars!in*token(0123456789)`,
    `${challengePathPrefix}short`,
    `${challengePathPrefix}${'a'.repeat(300)}`,
    `${challengePathPrefix}`,
    `/.well-known/acme-challenge//${token}`,
  ];
  for (const path of refused) t.equal(statusOf(await ask(path)), 404, `${path.slice(0, 70)} → 404`);
  t.equal(statusOf(await ask(`${challengePathPrefix}${token}`, 'POST')), 404, 'POST → 404');
  t.equal(statusOf(await ask(`${challengePathPrefix}../x`, 'GET', 'nobody.test')), 404, '/.well-known/acme-challenge/../x on a host with no route → 404');
  t.same(backend.requests.map((r) => r.url), [], 'not one of them reached the site’s upstream, though its route matches the Host');

  await store.delete(token);
  t.equal(statusOf(await ask(`${challengePathPrefix}${token}`)), 404, 'a token no longer pending → 404');
  await proxyInternals(proxy).removeInternalRoute(challengeRouteName);
  t.equal(statusOf(await ask(`${challengePathPrefix}${token}`)), 200, 'with the challenge route gone, the path is the site’s again');
  t.equal(backend.requests.length, 1);
});

/** Every value of a header in raw headers, by case-insensitive name. */
function values(rawHeaders: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) out.push(rawHeaders[i + 1]!);
  return out;
}

const forged =
  'X-Forwarded-For: 6.6.6.6\r\nx-forwarded-for: 7.7.7.7\r\nX-FORWARDED-PROTO: https\r\nX-Forwarded-Host: evil.test\r\nX-Forwarded-Host: evil2.test\r\n' +
  'X-Forwarded-Port: 1\r\nX_Forwarded_For: 8.8.8.8\r\nX_Forwarded_Host: evil3.test\r\n';

function checkForwarded(t: { same(found: unknown, wanted: unknown, message: string): unknown }, rawHeaders: string[], expected: { proto: string; host: string; port: number }, what: string): void {
  t.same(values(rawHeaders, 'x-forwarded-for'), ['127.0.0.1'], `${what}: one X-Forwarded-For, the real peer`);
  t.same(values(rawHeaders, 'x-forwarded-proto'), [expected.proto], `${what}: one X-Forwarded-Proto`);
  t.same(values(rawHeaders, 'x-forwarded-host'), [expected.host], `${what}: one X-Forwarded-Host`);
  t.same(values(rawHeaders, 'x-forwarded-port'), [String(expected.port)], `${what}: one X-Forwarded-Port`);
  t.same([...values(rawHeaders, 'x_forwarded_for'), ...values(rawHeaders, 'x_forwarded_host')], [], `${what}: underscore spellings (read as X-Forwarded-* by CGI-style servers) dropped`);
}

t.test('X-Forwarded-* from an untrusted peer are replaced, not appended: HTTP, terminated TLS and WebSocket', async (t) => {
  const backend = await startRecordingBackend(t);
  const upgrades: string[][] = [];
  const wsServer = trackSockets(http.createServer());
  const wss = new WebSocketServer({ server: wsServer });
  wss.on('connection', (_socket, req) => upgrades.push(req.rawHeaders));
  t.teardown(() => wss.close());
  const wsBackend = await serve(t, wsServer);
  const [port, tlsPort] = [await getFreePort(), await getFreePort()];
  // A trusted range that does not include the client: its headers are still untrusted.
  await startProxy(
    t,
    [
      forward('a', port, 'a.test', backend.port),
      forward('ws', port, 'ws.test', wsBackend.port),
      forward('s', tlsPort, 'a.test', backend.port, { tls: { mode: 'terminate', certificate: cert } }),
    ],
    { trustedProxies: ['10.0.0.0/8'] },
  );

  t.equal(statusOf(await rawExchange(port, `GET / HTTP/1.1\r\nHost: a.test\r\n${forged}Connection: close\r\n\r\n`)), 200);
  checkForwarded(t, backend.requests[0]!.rawHeaders, { proto: 'http', host: 'a.test', port }, 'HTTP');

  const secure = await tlsConnect(tlsPort, { servername: 'a.test', ca: ca.cert });
  const reply = closed(secure);
  secure.write(`GET / HTTP/1.1\r\nHost: a.test\r\n${forged.replace('X-FORWARDED-PROTO: https', 'X-Forwarded-Proto: http')}Connection: close\r\n\r\n`);
  t.equal(statusOf(await reply), 200);
  checkForwarded(t, backend.requests[1]!.rawHeaders, { proto: 'https', host: 'a.test', port: tlsPort }, 'terminated TLS');

  const headers: Record<string, string> = {};
  for (const line of forged.trim().split('\r\n')) {
    const [name, value] = line.split(': ') as [string, string];
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { ...headers, host: 'ws.test' } });
  ws.on('error', () => undefined);
  await once(ws, 'open');
  checkForwarded(t, upgrades[0]!, { proto: 'http', host: 'ws.test', port }, 'WebSocket upgrade');
  ws.terminate();
});

t.test('a redirect template cannot be made to emit a header or a control character', async (t) => {
  const port = await getFreePort();
  await startProxy(t, [{ name: 'r', match: { ports: port, domains: '*' }, action: { type: 'redirect', redirect: { to: 'https://{domain}:8443{path}?{query}', status: 302 } } }]);
  const attempts = [
    '/x%0d%0aSet-Cookie:%20a=b',
    '/x%0D%0ASet-Cookie:%20a=b?q=%0d%0aX-Injected:%201',
    '/x?%0aX-Injected:%201',
    '/%E5%98%8A%E5%98%8DSet-Cookie:%20a=b', // U+560A U+560D: their low bytes are CR and LF
    '/x\tX-Injected:%201',
  ];
  for (const path of attempts) {
    const reply = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n`);
    const head = reply.slice(0, reply.indexOf('\r\n\r\n'));
    const status = statusOf(reply);
    t.ok(status === 302 || status === 400, `${JSON.stringify(path)}: ${status}`);
    t.notMatch(head, /^(set-cookie|x-injected):/im, 'no header injected');
    const location = /^location: (.*)$/im.exec(head)?.[1];
    if (status === 302) t.match(location, /^https:\/\/a\.test:8443\/[\x21-\x7e]*$/, `Location stays one printable URL: ${location}`);
  }
  const hosts = ['a.test\tX-Injected: 1', 'a.test\x0bX'];
  for (const host of hosts) {
    const reply = await rawExchange(port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    t.notMatch(reply.slice(0, reply.indexOf('\r\n\r\n')), /^x-injected:/im, `Host ${JSON.stringify(host)}: no header injected (${statusOf(reply)})`);
  }
});

t.test('a redirect route whose template holds CR or LF is rejected or encoded, never sent raw', async (t) => {
  const port = await getFreePort();
  const route: IRouteConfig = { name: 'r', match: { ports: port, domains: '*' }, action: { type: 'redirect', redirect: { to: 'https://a.test/\r\nSet-Cookie: a=b' } } };
  const accepted = await startProxy(t, [route]).then(
    () => true,
    () => false,
  );
  if (!accepted) return void t.pass('the route was refused when validated');
  const reply = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
  t.notMatch(reply.slice(0, reply.indexOf('\r\n\r\n')), /^set-cookie:/im, 'no header injected');
  t.match(reply, /^location: https:\/\/a\.test\/%0D%0ASet-Cookie:%20a=b\r$/im, 'the control characters were percent-encoded');
});
