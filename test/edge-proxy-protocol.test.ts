// PROXY protocol (issue 17). In: from a peer in proxyProtocol.allowFrom a
// v1 or v2 header is required and its client address is the client for
// routing, IP lists, X-Forwarded-For and socket handlers; the same header
// from any other peer is refused. Out: action.target.proxyProtocol sends
// one first on every upstream connection (TCP, passthrough and HTTP). The
// parser is strict, incremental and capped.
import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { createSelfSignedCertificate } from '../ts/index.js';
import { buildProxyHeader, parseProxyHeader } from '../ts/proxy/proxy-protocol/header.js';
import { startHttpBackend } from './helpers/backends.js';
import { collect, readUntil } from './helpers/three-fronts.js';
import { captureClientHello, delay, eventually, serve, startProxy, startRecorder, trackSockets } from './helpers/data-path.js';
import { fronts, startEdgeFronts } from './helpers/edge-fronts.js';
import { getFreePort } from './helpers/free-port.js';

const v1 = (client: string, port: number) => `PROXY TCP4 ${client} 127.0.0.1 40000 ${port}\r\n`;
const v2 = (client: string, port: number) => buildProxyHeader('v2', { clientIp: client, clientPort: 40000, destIp: '127.0.0.1', destPort: port });

t.test('the parser: v1 and v2, strict, incremental, capped', async (t) => {
  t.match(parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 5555 443\r\nGET')), { kind: 'ok', size: 42, address: { clientIp: '203.0.113.7', clientPort: 5555, destPort: 443 } });
  t.match(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n')), { kind: 'ok', address: { clientIp: '2001:db8::1' } });
  t.match(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { kind: 'ok', address: undefined });
  for (const bad of ['PROXY TCP4 203.0.113.7 10.0.0.1 05555 443\r\n', 'PROXY TCP4 ::1 10.0.0.1 1 2\r\n', 'PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n', 'PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n', `PROXY ${'x'.repeat(120)}`, 'GET / HTTP/1.1\r\n']) {
    t.equal(parseProxyHeader(Buffer.from(bad)).kind, 'invalid', JSON.stringify(bad.slice(0, 40)));
  }
  const header = Buffer.from(v1('198.51.100.2', 80));
  const cuts = Array.from({ length: header.length - 1 }, (_, i) => parseProxyHeader(header.subarray(0, i + 1)).kind);
  t.ok(cuts.every((kind) => kind === 'incomplete'), 'v1 cut anywhere is incomplete');
  for (const address of [
    { clientIp: '198.51.100.9', clientPort: 1234, destIp: '10.1.2.3', destPort: 443 },
    { clientIp: '2001:db8::7', clientPort: 1, destIp: '2001:db8::8', destPort: 65535 },
  ]) {
    const built = buildProxyHeader('v2', address);
    for (let i = 1; i < built.length; i++) if (parseProxyHeader(built.subarray(0, i)).kind !== 'incomplete') t.fail(`v2 cut at ${i} is not incomplete`);
    t.same(parseProxyHeader(built), { kind: 'ok', size: built.length, address }, `v2 round trip ${address.clientIp}`);
    t.same(parseProxyHeader(buildProxyHeader('v1', address)), { kind: 'ok', size: buildProxyHeader('v1', address).length, address }, `v1 round trip ${address.clientIp}`);
  }
  const local = Buffer.from(buildProxyHeader('v2', { clientIp: '1.2.3.4', clientPort: 1, destIp: '1.2.3.4', destPort: 1 }));
  local[12] = 0x20;
  t.match(parseProxyHeader(local), { kind: 'ok', address: undefined }, 'v2 LOCAL keeps the peer address');
  const huge = Buffer.from(local);
  huge.writeUInt16BE(60000, 14);
  t.equal(parseProxyHeader(huge).kind, 'invalid', 'v2 block over the cap');
});

t.test('from an allowed peer, v1 and v2 set the client address: X-Forwarded-For, ipAllowList, socket handlers, TLS', async (t) => {
  const backend = await startHttpBackend('b');
  t.teardown(() => backend.close());
  const port = await getFreePort();
  const tlsPort = await getFreePort();
  const handlerPort = await getFreePort();
  const seenByHandler: string[] = [];
  const certificate = createSelfSignedCertificate({ domains: ['s.test'] });
  await startProxy(
    t,
    [
      { name: 'open', match: { ports: port, domains: 'open.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } },
      { name: 'only-7', match: { ports: port, domains: 'only7.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } }, security: { ipAllowList: ['203.0.113.7'] } },
      { name: 'tls', match: { ports: tlsPort, domains: 's.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port }, tls: { mode: 'terminate', certificate } } },
      {
        name: 'handler',
        match: { ports: handlerPort },
        action: { type: 'socket-handler', socketHandler: (socket, context) => void (seenByHandler.push(context.clientIp), socket.end('ok')) },
      },
    ],
    { proxyProtocol: { allowFrom: ['127.0.0.1'] } },
  );
  const get = async (header: string | Buffer, host: string) => {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const reply = collect(socket, 1000);
    socket.write(header);
    socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    return reply;
  };
  t.match(await get(v1('203.0.113.7', port), 'open.test'), /"x-forwarded-for":"203\.0\.113\.7"/, 'v1: the header names the client upstream');
  t.match(await get(v2('198.51.100.9', port), 'open.test'), /"x-forwarded-for":"198\.51\.100\.9"/, 'v2: the same');
  t.match(await get(v1('203.0.113.7', port), 'only7.test'), /^HTTP\/1\.1 200/, 'ipAllowList admits the carried address');
  t.match(await get(v2('203.0.113.8', port), 'only7.test'), /^HTTP\/1\.1 403/, 'and refuses another one, though the peer is 127.0.0.1');

  const raw = net.connect(tlsPort, '127.0.0.1');
  await once(raw, 'connect');
  raw.write(v2('192.0.2.44', tlsPort));
  const secure = tls.connect({ socket: raw, servername: 's.test', rejectUnauthorized: false });
  await once(secure, 'secureConnect');
  const reply = collect(secure, 1000);
  secure.write('GET / HTTP/1.1\r\nHost: s.test\r\nConnection: close\r\n\r\n');
  t.match(await reply, /"x-forwarded-for":"192\.0\.2\.44"/, 'terminated TLS after a PROXY header');

  const h = net.connect(handlerPort, '127.0.0.1');
  await once(h, 'connect');
  h.write(v1('203.0.113.99', handlerPort));
  t.equal(await collect(h, 1000), 'ok');
  t.same(seenByHandler, ['203.0.113.99'], 'a socket handler is told the carried client address');
});

t.test('the same header from a peer not in allowFrom is refused; an allowed peer without one is closed', async (t) => {
  const backend = await startHttpBackend('b');
  t.teardown(() => backend.close());
  const port = await getFreePort();
  const tcpPort = await getFreePort();
  const recorder = await startRecorder(t);
  await startProxy(
    t,
    [
      { name: 'open', match: { ports: port, domains: 'open.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } },
      { name: 'tls-or-tcp', match: { ports: tcpPort }, action: { type: 'forward', target: { host: '127.0.0.1', port: recorder.port } } },
    ],
    { proxyProtocol: { allowFrom: ['127.0.0.1'] }, timeouts: { clientHelloMs: 300 } },
  );
  const from = async (localAddress: string, bytes: string | Buffer, to = port) => {
    const socket = net.connect({ port: to, host: '127.0.0.1', localAddress });
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    const reply = collect(socket, 800);
    socket.write(bytes);
    return reply;
  };
  const request = 'GET / HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n';
  for (const [name, header] of [['v1', v1('203.0.113.7', port)], ['v2', v2('203.0.113.7', port)]] as const) {
    const reply = await from('127.0.0.5', Buffer.concat([Buffer.from(header), Buffer.from(request)]));
    t.notMatch(reply, /^HTTP\/1\.1 200/, `${name} from 127.0.0.5: not served`);
  }
  t.equal(backend.requests, 0, 'the upstream never saw a forged client');
  t.equal(await from('127.0.0.1', request), '', 'an allowed peer must send the header: closed');
  t.match(await from('127.0.0.5', request), /^HTTP\/1\.1 200/, 'a peer not in allowFrom without a header is served as usual');
  // Silence from an allowed peer ends at clientHelloMs.
  const quiet = net.connect({ port, host: '127.0.0.1' });
  await once(quiet, 'connect');
  t.ok(await eventually(() => quiet.destroyed || quiet.readableEnded, 3000), 'an allowed peer that sends nothing is closed');
  quiet.destroy();
  await delay(10);
});

t.test('a route sends PROXY v1 / v2 to a raw upstream (TCP forward)', async (t) => {
  for (const version of ['v1', 'v2'] as const) {
    const recorder = await startRecorder(t);
    const port = await getFreePort();
    await startProxy(t, [{ name: `out-${version}`, match: { ports: port }, action: { type: 'forward', target: { host: '127.0.0.1', port: recorder.port, proxyProtocol: version } } }]);
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('hello');
    t.ok(await eventually(() => Buffer.concat(recorder.received[0] ?? []).includes('hello'), 3000), `${version}: bytes arrive`);
    const bytes = Buffer.concat(recorder.received[0]!);
    const header = parseProxyHeader(bytes);
    t.match(header, { kind: 'ok', address: { clientIp: '127.0.0.1', clientPort: socket.localPort, destPort: port } }, `${version}: the header names the client and the proxy's port`);
    if (header.kind === 'ok') t.equal(bytes.subarray(header.size).toString(), 'hello', `${version}: then the client's bytes`);
    if (version === 'v1') t.match(bytes.toString('latin1'), /^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+\r\nhello$/);
    socket.destroy();
  }
});

t.test('a passthrough route sends PROXY v1 before the ClientHello', async (t) => {
  const recorder = await startRecorder(t);
  const port = await getFreePort();
  await startProxy(t, [{ name: 'pass', match: { ports: port, domains: 'p.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: recorder.port, proxyProtocol: 'v1' }, tls: { mode: 'passthrough' } } }]);
  const hello = await captureClientHello('p.test');
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(hello);
  t.ok(await eventually(() => Buffer.concat(recorder.received[0] ?? []).length >= hello.length, 3000));
  const bytes = Buffer.concat(recorder.received[0]!);
  const header = parseProxyHeader(bytes);
  t.match(header, { kind: 'ok', address: { clientIp: '127.0.0.1', clientPort: socket.localPort, destPort: port } });
  if (header.kind === 'ok') t.ok(bytes.subarray(header.size).equals(hello), 'then the ClientHello, untouched');
  socket.destroy();
});

t.test('HTTP routes send PROXY v2 on every engine, carrying the inbound PROXY client', async (t) => {
  // A raw HTTP upstream that requires a PROXY header on each connection and answers with the client it names.
  const upstream = trackSockets(
    net.createServer((socket) => {
      socket.on('error', () => socket.destroy());
      let buf = Buffer.alloc(0);
      let client: string | undefined;
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (client === undefined) {
          const header = parseProxyHeader(buf);
          if (header.kind === 'incomplete') return;
          if (header.kind !== 'ok') return void socket.destroy();
          client = header.address?.clientIp ?? 'none';
          buf = buf.subarray(header.size);
        }
        let end: number;
        while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
          buf = buf.subarray(end + 4);
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${client.length}\r\n\r\n${client}`);
        }
      });
    }),
  );
  const served = await serve(t, upstream);
  const edge = await startEdgeFronts(t, { target: { host: '127.0.0.1', port: served.port, proxyProtocol: 'v2' } });
  for (const front of fronts) {
    const first = await edge.request(front);
    const second = await edge.request(front);
    t.same([first.status, first.body, second.body], [200, '127.0.0.1', '127.0.0.1'], `${front}: the upstream read a v2 header naming the client`);
  }

  const inbound = await startEdgeFronts(t, { target: { host: '127.0.0.1', port: served.port, proxyProtocol: 'v1' } }, {}, { proxyProtocol: { allowFrom: ['127.0.0.1'] } });
  const socket = net.connect(inbound.plainPort, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(v1('203.0.113.50', inbound.plainPort));
  socket.write('GET / HTTP/1.1\r\nHost: e.test\r\n\r\n');
  await readUntil(socket, '203.0.113.50', 3000);
  t.pass('the inbound client is the one sent upstream');
  socket.destroy();
});
