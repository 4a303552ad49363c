import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import { createCertificateAuthority, createSelfSignedCertificate, type IRouteConfig } from '../ts/index.js';
import { closed, eventually, exchange, rawConnect, startHttpServer, startProxy, trackSockets, serve, type Teardown } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const ca = createCertificateAuthority('websocket test CA');
const cert = createSelfSignedCertificate({ domains: ['ws.test'], issuer: ca });

/** A WebSocket echo server that picks 'chat.v2' when offered and records each handshake's headers. */
async function startWsEcho(t: Teardown) {
  const handshakes: http.IncomingHttpHeaders[] = [];
  const closes: number[] = [];
  const server = trackSockets(http.createServer((_req, res) => res.writeHead(426).end('upgrade required')));
  const wss = new WebSocketServer({
    server,
    handleProtocols: (protocols) => (protocols.has('chat.v2') ? 'chat.v2' : false),
  });
  wss.on('connection', (socket, req) => {
    handshakes.push(req.headers);
    socket.on('message', (data, isBinary) => socket.send(isBinary ? data : `echo:${data.toString()}`, { binary: isBinary }));
    socket.on('close', (code) => closes.push(code));
  });
  t.teardown(() => wss.close());
  return Object.assign(await serve(t, server), { handshakes, closes });
}

function route(port: number, target: number, tls?: IRouteConfig['action']['tls']): IRouteConfig {
  return { name: 'ws', match: { ports: port, domains: 'ws.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: target }, ...(tls ? { tls } : {}) } };
}

async function open(socket: WebSocket): Promise<WebSocket> {
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
  return socket;
}

async function roundTrip(socket: WebSocket, message: string | Buffer): Promise<string | Buffer> {
  socket.send(message);
  const [data, isBinary] = (await once(socket, 'message')) as [Buffer, boolean];
  return isBinary ? data : data.toString();
}

t.test('WebSocket through a plain HTTP port: subprotocol negotiated, messages both ways, close passed on', async (t) => {
  const backend = await startWsEcho(t);
  const port = await getFreePort();
  await startProxy(t, [route(port, backend.port)]);
  const client = await open(new WebSocket(`ws://127.0.0.1:${port}/live?room=1`, ['chat.v1', 'chat.v2'], { headers: { host: 'ws.test' } }));
  t.equal(client.protocol, 'chat.v2', 'the upstream choice reaches the client');
  t.equal(await roundTrip(client, 'hi'), 'echo:hi');
  const binary = randomBytes(200_000);
  t.ok(((await roundTrip(client, binary)) as Buffer).equals(binary), 'a large binary message intact');
  const seen = backend.handshakes[0]!;
  t.equal(seen['sec-websocket-protocol'], 'chat.v1,chat.v2', 'every offered subprotocol forwarded');
  t.equal(seen['x-forwarded-for'], '127.0.0.1');
  t.equal(seen['host'], 'ws.test');
  client.close(4001);
  t.ok(await eventually(() => backend.closes.includes(4001)), 'the close code reaches the upstream');
});

t.test('WebSocket through a terminated TLS port', async (t) => {
  const backend = await startWsEcho(t);
  const port = await getFreePort();
  await startProxy(t, [route(port, backend.port, { mode: 'terminate', certificate: cert })]);
  // ws hands these to tls.connect; its types leave servername out.
  const options = { servername: 'ws.test', ca: ca.cert, headers: { host: 'ws.test' } } as WebSocket.ClientOptions;
  const client = await open(new WebSocket(`wss://127.0.0.1:${port}/`, ['chat.v2'], options));
  t.equal(client.protocol, 'chat.v2');
  t.equal(await roundTrip(client, 'secure'), 'echo:secure');
  t.equal(backend.handshakes[0]!['x-forwarded-proto'], 'https');
  client.terminate();
});

t.test("a handshake with 'Connection: keep-alive, Upgrade' is proxied", async (t) => {
  const backend = await startWsEcho(t);
  const port = await getFreePort();
  await startProxy(t, [route(port, backend.port)]);
  const key = randomBytes(16).toString('base64');
  const socket = await rawConnect(port);
  const head = await exchange(
    socket,
    'GET /chat HTTP/1.1\r\nHost: ws.test\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n' +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Protocol: chat.v1, chat.v2\r\n\r\n`,
    12,
  );
  t.match(head, /^HTTP\/1\.1 101 /);
  let response = head;
  while (!response.includes('\r\n\r\n')) response += (await once(socket, 'data'))[0].toString('latin1');
  const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  t.match(response, new RegExp(`sec-websocket-accept: ${accept.replace(/[+/]/g, '\\$&')}`, 'i'));
  t.match(response, /sec-websocket-protocol: chat\.v2/i);
  t.match(response, /upgrade: websocket/i);
  const frame = await exchange(socket, maskedTextFrame('raw'), 2 + 'echo:raw'.length);
  t.equal(frame.slice(2), 'echo:raw', 'frames flow after the raw handshake');
  socket.destroy();
});

t.test('an upstream that declines the upgrade has its answer relayed; a dead upstream gives 502', async (t) => {
  const plain = await startHttpServer(t, (_req, res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('no sockets here'));
  const dead = await getFreePort();
  const port = await getFreePort();
  await startProxy(t, [
    { name: 'plain', match: { ports: port, domains: 'plain.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: plain.port } } },
    { name: 'dead', match: { ports: port, domains: 'dead.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: dead } } },
  ]);
  for (const [host, status] of [['plain.test', 404], ['dead.test', 502]] as const) {
    const client = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host } });
    client.on('error', () => undefined);
    const [, res] = (await once(client, 'unexpected-response')) as [http.ClientRequest, http.IncomingMessage];
    t.equal(res.statusCode, status, host);
    res.resume();
    client.terminate();
  }
  const socket = await rawConnect(port);
  socket.write('GET / HTTP/1.1\r\nHost: plain.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n');
  const reply = await closed(socket);
  t.match(reply, /^HTTP\/1\.1 404/);
  t.match(reply, /no sockets here$/, 'the declining body is relayed whole');
});

/** A client-to-server (masked) WebSocket text frame. */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}



t.test('WebSocket through terminate-and-reencrypt reaches a TLS upstream with the request host as SNI', async (t) => {
  const servernames: (string | false | null)[] = [];
  const server = trackSockets(https.createServer({ key: cert.key, cert: cert.cert }));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    servernames.push((req.socket as TLSSocket).servername);
    socket.on('message', (data) => socket.send(`tls-echo:${data.toString()}`));
  });
  t.teardown(() => wss.close());
  const upstream = await serve(t, server);
  const port = await getFreePort();
  await startProxy(t, [route(port, upstream.port, { mode: 'terminate-and-reencrypt', certificate: cert, upstream: { ca: ca.cert } })]);
  const options = { servername: 'ws.test', ca: ca.cert, headers: { host: `ws.test:${port}` } } as WebSocket.ClientOptions;
  const client = await open(new WebSocket(`wss://127.0.0.1:${port}/`, options));
  t.equal(await roundTrip(client, 'x'), 'tls-echo:x');
  t.same(servernames, ['ws.test']);
  client.terminate();
});

t.test('a frame sent in the same packet as the handshake reaches the upstream', async (t) => {
  const backend = await startWsEcho(t);
  const port = await getFreePort();
  await startProxy(t, [route(port, backend.port)]);
  const socket = await rawConnect(port);
  const handshake =
    'GET / HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`;
  const reply = await exchange(socket, Buffer.concat([Buffer.from(handshake), maskedTextFrame('early')]), 0);
  let received = reply;
  while (!received.includes('echo:early')) received += (await once(socket, 'data'))[0].toString('latin1');
  t.match(received, /^HTTP\/1\.1 101 /);
  t.match(received, /echo:early$/);
  socket.destroy();
});
