import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { createSelfSignedCertificate, type IRouteConfig, type IRouteSecurity } from '../ts/index.js';
import { httpGet } from './helpers/backends.js';
import { closed, eventually, exchange, rawConnect, serve, startHttpServer, startProxy, startTlsEcho, tlsConnect, trackSockets } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const cert = createSelfSignedCertificate({ domains: ['a.test'] });

/** A TCP echo server that counts the connections it ever accepted. */
async function countingEcho(t: Parameters<typeof serve>[0]) {
  const server = Object.assign(
    trackSockets(
      net.createServer((socket) => {
        server.accepted++;
        socket.on('error', () => socket.destroy());
        socket.pipe(socket);
      }),
    ),
    { accepted: 0 },
  );
  return serve(t, server);
}

t.test('ipAllowList / ipBlockList on HTTP routes answer 403 without contacting the upstream', async (t) => {
  let requests = 0;
  const backend = await startHttpServer(t, (_req, res) => {
    requests++;
    res.end('ok');
  });
  const port = await getFreePort();
  const route = (domain: string, security: IRouteSecurity): IRouteConfig => ({
    name: domain,
    match: { ports: port, domains: domain },
    action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } },
    security,
  });
  await startProxy(t, [
    route('allowed.test', { ipAllowList: ['127.0.0.1'] }),
    route('allowed-cidr.test', { ipAllowList: ['10.0.0.0/8', '127.0.0.0/8'] }),
    route('not-allowed.test', { ipAllowList: ['10.0.0.0/8'] }),
    route('blocked.test', { ipBlockList: ['127.0.0.1'] }),
    route('block-wins.test', { ipAllowList: ['127.0.0.1'], ipBlockList: ['127.0.0.0/24'] }),
    route('mapped-block.test', { ipBlockList: ['::ffff:127.0.0.1'] }),
    route('mapped-cidr.test', { ipBlockList: ['::ffff:127.0.0.0/104'] }),
    route('mapped-allow.test', { ipAllowList: ['::ffff:127.0.0.1'] }),
  ]);
  const expected: Record<string, number> = {
    'allowed.test': 200,
    'allowed-cidr.test': 200,
    'not-allowed.test': 403,
    'blocked.test': 403,
    'block-wins.test': 403,
    'mapped-block.test': 403,
    'mapped-cidr.test': 403,
    'mapped-allow.test': 200,
  };
  for (const [host, status] of Object.entries(expected)) {
    t.equal((await httpGet(port, { host })).status, status, host);
  }
  t.equal(requests, 3, 'only allowed requests reached the upstream');
});

t.test('ipBlockList on TCP, passthrough and terminate routes closes before any upstream is contacted', async (t) => {
  const echo = await countingEcho(t);
  const tlsBackend = await startTlsEcho(t, 'T', cert);
  let tlsAccepted = 0;
  tlsBackend.on('connection', () => tlsAccepted++);
  const tcpPort = await getFreePort();
  const tlsPort = await getFreePort();
  await startProxy(t, [
    { name: 'tcp', match: { ports: tcpPort }, action: { type: 'forward', target: { host: '127.0.0.1', port: echo.port } }, security: { ipBlockList: ['127.0.0.0/8'] } },
    {
      name: 'pass',
      match: { ports: tlsPort, domains: 'a.test' },
      action: { type: 'forward', target: { host: '127.0.0.1', port: tlsBackend.port }, tls: { mode: 'passthrough' } },
      security: { ipAllowList: ['192.0.2.1'] },
    },
    {
      name: 'term',
      match: { ports: tlsPort, domains: 'b.test' },
      action: { type: 'forward', target: { host: '127.0.0.1', port: echo.port }, tls: { mode: 'terminate', certificate: cert } },
      security: { ipBlockList: ['::ffff:127.0.0.1'] },
    },
  ]);
  const tcp = await rawConnect(tcpPort);
  tcp.write('hello');
  t.equal(await closed(tcp), '', 'TCP connection closed');
  for (const servername of ['a.test', 'b.test']) {
    const error = await tlsConnect(tlsPort, { servername }).then(
      (s) => (s.destroy(), undefined),
      (e: Error) => e,
    );
    t.ok(error, `${servername}: TLS connection refused`);
  }
  t.equal(echo.accepted, 0, 'echo upstream never contacted');
  t.equal(tlsAccepted, 0, 'TLS upstream never contacted');
});

t.test('maxConnections on a TCP route refuses the connection over the limit until one closes', async (t) => {
  const echo = await countingEcho(t);
  const port = await getFreePort();
  await startProxy(t, [{ name: 'one', match: { ports: port }, action: { type: 'forward', target: { host: '127.0.0.1', port: echo.port } }, security: { maxConnections: 1 } }]);
  const first = await rawConnect(port);
  t.equal(await exchange(first, 'one', 3), 'one');
  const second = await rawConnect(port);
  second.write('two');
  t.equal(await closed(second), '', 'the second connection is closed');
  t.equal(echo.accepted, 1, 'without reaching the upstream');
  first.destroy();
  // The slot frees when the proxy sees the close; retry until it has.
  let reply = '';
  await eventually(async () => {
    const third = await rawConnect(port);
    reply = await exchange(third, 'three', 5);
    third.destroy();
    return reply === 'three';
  });
  t.equal(reply, 'three', 'a new connection is accepted once the first closed');
});

t.test('maxConnections on an HTTP route answers 503 while the limit is taken', async (t) => {
  const waiting: http.ServerResponse[] = [];
  const backend = await startHttpServer(t, (req, res) => {
    if (req.url === '/hold') waiting.push(res);
    else res.end('quick');
  });
  const port = await getFreePort();
  await startProxy(t, [
    { name: 'one', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } }, security: { maxConnections: 1 } },
  ]);
  const held = httpGet(port, { host: 'a.test', path: '/hold' });
  t.ok(await eventually(() => waiting.length === 1));
  t.equal((await httpGet(port, { host: 'a.test' })).status, 503);
  waiting[0]!.end('released');
  t.equal((await held).body, 'released');
  t.equal((await httpGet(port, { host: 'a.test' })).body, 'quick');
});

t.test('clients seen as IPv4-mapped IPv6 addresses match IPv4 rules', async (t) => {
  const backend = await startHttpServer(t, (req, res) => res.end(String(req.headers['x-forwarded-for'])));
  const echo = await countingEcho(t);
  const httpPort = await getFreePort();
  const tcpPort = await getFreePort();
  const handlerPort = await getFreePort();
  const seen: string[] = [];
  // Listening on the mapped address makes 127.0.0.1 clients arrive as ::ffff:127.0.0.1.
  await startProxy(
    t,
    [
      { name: 'allowed', match: { ports: httpPort, domains: 'allowed.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } }, security: { ipAllowList: ['127.0.0.1'] } },
      { name: 'blocked', match: { ports: httpPort, domains: 'blocked.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } }, security: { ipBlockList: ['127.0.0.0/8'] } },
      { name: 'tcp', match: { ports: tcpPort }, action: { type: 'forward', target: { host: '127.0.0.1', port: echo.port } }, security: { ipAllowList: ['127.0.0.0/8'] } },
      { name: 'handler', match: { ports: handlerPort }, action: { type: 'socket-handler', socketHandler: (socket, context) => void (seen.push(context.clientIp), socket.end()) } },
    ],
    { host: '::ffff:127.0.0.1' },
  );
  const allowed = await httpGet(httpPort, { host: 'allowed.test' });
  t.equal(allowed.status, 200);
  t.equal(allowed.body, '127.0.0.1', 'X-Forwarded-For carries the plain IPv4 address');
  t.equal((await httpGet(httpPort, { host: 'blocked.test' })).status, 403);
  const tcp = await rawConnect(tcpPort);
  t.equal(await exchange(tcp, 'mapped', 6), 'mapped', 'TCP allow list matches');
  tcp.destroy();
  await closed(await rawConnect(handlerPort));
  t.same(seen, ['127.0.0.1'], 'socket handlers see the plain IPv4 address');
});
