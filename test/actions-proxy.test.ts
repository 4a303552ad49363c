import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { createSelfSignedCertificate, type ISocketHandlerContext } from '../ts/index.js';
import { httpGet, startEchoBackend, startHttpBackend } from './helpers/backends.js';
import { closed, exchange, httpsGet, rawConnect, serve, startProxy, tlsConnect, trackSockets } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const cert = createSelfSignedCertificate({ domains: ['secure.test'] });

t.test('redirect templates expand {domain}, {path}, {port} and {query}', async (t) => {
  const port = await getFreePort();
  const tlsPort = await getFreePort();
  await startProxy(t, [
    { name: 'full', match: { ports: port, domains: 'full.test' }, action: { type: 'redirect', redirect: { to: 'https://{domain}:{port}{path}?{query}', status: 308 } } },
    { name: 'default', match: { ports: port, domains: 'default.test' }, action: { type: 'redirect', redirect: { to: 'https://www.{domain}{path}' } } },
    {
      name: 'tls',
      match: { ports: tlsPort, domains: 'secure.test' },
      action: { type: 'redirect', redirect: { to: 'https://elsewhere.test:{port}{path}?{query}', status: 302 }, tls: { mode: 'terminate', certificate: cert } },
    },
  ]);
  const full = await httpGet(port, { host: 'Full.Test:1234', path: '/a/b.html?x=1&y=%20z' });
  t.equal(full.status, 308);
  t.equal(full.headers.location, `https://full.test:${port}/a/b.html?x=1&y=%20z`);
  const noQuery = await httpGet(port, { host: 'full.test', path: '/only/path' });
  t.equal(noQuery.headers.location, `https://full.test:${port}/only/path`, 'no dangling ? without a query');
  const byDefault = await httpGet(port, { host: 'default.test', path: '/p?q=1' });
  t.equal(byDefault.status, 301, 'status defaults to 301');
  t.equal(byDefault.headers.location, 'https://www.default.test/p');
  const overTls = await httpsGet(tlsPort, { servername: 'secure.test', path: '/s?t=2' });
  t.equal(overTls.status, 302);
  t.equal(overTls.headers.location, `https://elsewhere.test:${tlsPort}/s?t=2`, '{port} is the port the client connected to');
});

t.test('block closes TCP connections and answers 403 on HTTP', async (t) => {
  const web = await startHttpBackend('web');
  t.teardown(() => web.close());
  const tcpPort = await getFreePort();
  const httpPort = await getFreePort();
  const tlsPort = await getFreePort();
  await startProxy(t, [
    { name: 'tcp-block', match: { ports: tcpPort }, action: { type: 'block' } },
    { name: 'web', match: { ports: httpPort, domains: 'open.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: web.port } } },
    { name: 'http-block', match: { ports: httpPort, domains: 'open.test', path: '/private/*' }, action: { type: 'block' } },
    { name: 'tls-block', match: { ports: tlsPort, domains: 'nope.test' }, action: { type: 'block', tls: { mode: 'passthrough' } } },
  ]);
  const tcp = await rawConnect(tcpPort);
  tcp.write('anything');
  t.equal(await closed(tcp), '', 'TCP block closes');
  t.equal((await httpGet(httpPort, { host: 'open.test', path: '/private/x' })).status, 403);
  t.equal((await httpGet(httpPort, { host: 'open.test', path: '/public' })).status, 200, 'other paths still forwarded');
  const error = await tlsConnect(tlsPort, { servername: 'nope.test' }).then(
    (s) => (s.destroy(), undefined),
    (e: Error) => e,
  );
  t.ok(error, 'blocked TLS name closes during the handshake');
});

t.test('static answers with its status, headers and body', async (t) => {
  const port = await getFreePort();
  await startProxy(t, [
    { name: 'teapot', match: { ports: port, domains: 'tea.test' }, action: { type: 'static', static: { status: 418, headers: { 'X-Brew': 'earl grey', 'Content-Type': 'text/plain' }, body: 'I am a teapot ☕' } } },
    { name: 'empty', match: { ports: port, domains: 'empty.test' }, action: { type: 'static', static: {} } },
  ]);
  const res = await httpGet(port, { host: 'tea.test' });
  t.equal(res.status, 418);
  t.equal(res.headers['x-brew'], 'earl grey');
  t.equal(res.headers['content-type'], 'text/plain');
  t.equal(res.body, 'I am a teapot ☕');
  t.equal(res.headers['content-length'], String(Buffer.byteLength('I am a teapot ☕')));
  const empty = await httpGet(port, { host: 'empty.test' });
  t.equal(empty.status, 200);
  t.equal(empty.body, '');
  const head = await httpGet(port, { host: 'tea.test', method: 'HEAD' });
  t.equal(head.status, 418);
  t.equal(head.body, '', 'HEAD gets no body');
});

t.test('forward to a host list spreads requests and connections round-robin', async (t) => {
  // Three loopback addresses on one port, so the host list alone decides where a request goes.
  const shared = await getFreePort();
  const servers = await Promise.all(
    ['127.0.0.1', '127.0.0.2', '127.0.0.3'].map((host, i) =>
      serve(t, trackSockets(http.createServer((_req, res) => res.end(`backend ${i}`))), host, shared),
    ),
  );
  t.equal(servers.length, 3);
  const httpPort = await getFreePort();
  const tcpPort = await getFreePort();
  await startProxy(t, [
    { name: 'lb', match: { ports: httpPort, domains: 'lb.test' }, action: { type: 'forward', target: { host: ['127.0.0.1', '127.0.0.2', '127.0.0.3'], port: shared } } },
    { name: 'tcp-lb', match: { ports: tcpPort }, action: { type: 'forward', target: { host: ['127.0.0.1', '127.0.0.2', '127.0.0.3'], port: shared } } },
  ]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const counts = new Map<string, number>();
  for (let i = 0; i < 9; i++) {
    const body = (await httpGet(httpPort, { host: 'lb.test', agent })).body;
    counts.set(body, (counts.get(body) ?? 0) + 1);
  }
  t.same(Object.fromEntries(counts), { 'backend 0': 3, 'backend 1': 3, 'backend 2': 3 }, 'per request, even on one client connection');
  const tcpBodies: string[] = [];
  for (let i = 0; i < 3; i++) {
    const socket = await rawConnect(tcpPort);
    const reply = await exchange(socket, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', Infinity);
    tcpBodies.push(reply.slice(reply.indexOf('\r\n\r\n') + 4));
  }
  t.same(tcpBodies.sort(), ['backend 0', 'backend 1', 'backend 2'], 'per connection for TCP routes');
});

t.test("port 'preserve' connects to the port the client used", async (t) => {
  const port = await getFreePort();
  // The upstream listens on the same port number on another loopback address.
  const upstream = await serve(
    t,
    trackSockets(
      net.createServer((socket) => {
        socket.on('error', () => socket.destroy());
        socket.end(`upstream on ${socket.localAddress}:${socket.localPort}`);
      }),
    ),
    '127.0.0.2',
    port,
  );
  await startProxy(t, [{ name: 'keep', match: { ports: port }, action: { type: 'forward', target: { host: '127.0.0.2', port: 'preserve' } } }]);
  const socket = await rawConnect(port);
  t.equal(await closed(socket), `upstream on 127.0.0.2:${upstream.port}`);
  t.equal(upstream.port, port);
});

t.test('socket-handler gets the socket and its context; a failing handler only closes its socket', async (t) => {
  const port = await getFreePort();
  const throwPort = await getFreePort();
  const rejectPort = await getFreePort();
  const contexts: ISocketHandlerContext[] = [];
  const echo = await startEchoBackend('echo');
  t.teardown(() => echo.close());
  await startProxy(t, [
    {
      name: 'hello',
      match: { ports: port },
      action: {
        type: 'socket-handler',
        socketHandler: (socket, context) => {
          contexts.push(context);
          socket.write('220 ready\r\n');
          socket.on('data', (chunk: Buffer) => socket.end(`got ${chunk.toString()}`));
        },
      },
    },
    {
      name: 'throws',
      match: { ports: throwPort },
      action: {
        type: 'socket-handler',
        socketHandler: () => {
          throw new Error('handler bug');
        },
      },
    },
    {
      name: 'rejects',
      match: { ports: rejectPort },
      action: { type: 'socket-handler', socketHandler: async () => Promise.reject(new Error('async handler bug')) },
    },
  ]);
  const socket = await rawConnect(port);
  const banner = await exchange(socket, '', 11);
  t.equal(banner, '220 ready\r\n', 'the handler can speak first: nothing is read before it runs');
  t.equal(await exchange(socket, 'HELO', Infinity), 'got HELO');
  t.same(contexts, [{ port, clientIp: '127.0.0.1', domain: undefined, routeName: 'hello' }]);
  for (const p of [throwPort, rejectPort]) {
    const failing = await rawConnect(p);
    failing.write('x');
    t.equal(await closed(failing), '', 'closed');
  }
  const again = await rawConnect(port);
  t.equal(await exchange(again, '', 11), '220 ready\r\n', 'still serving');
  again.destroy();
});
