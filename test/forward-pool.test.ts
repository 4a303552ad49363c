// The engine-neutral forwarder (Node's server for handed-over connections,
// HTTP/2 streams) runs on the same raw upstream pool as the fast engine:
// requests reuse one keep-alive upstream connection across client
// connections and engines, a chunked upstream body reaches an HTTP/2 client
// decoded and byte-exact with its trailers, and a malformed one is cut off
// (connection closed, stream reset) without harm to the proxy; a client
// that goes away takes its upstream connection with it, and a PROXY header
// goes before a re-encrypted upstream's TLS handshake.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { createSelfSignedCertificate } from '../ts/index.js';
import { eventually, serve, startProxy, trackSockets } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';
import { h2Request, h2Session } from './helpers/h2-client.js';
import { collect, readUntil, startThreeFronts } from './helpers/three-fronts.js';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const payload = randomBytes(300 * 1024);
const frontCert = createSelfSignedCertificate({ domains: ['p.test'] });
const upstreamCert = createSelfSignedCertificate({ domains: ['upstream.test'] });

/** The chunked framing of `data` in uneven chunks, one with an extension, and a trailer section. */
function chunked(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  const sizes = [1, 4096, 70_000, 17, 100_000];
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const size = Math.min(sizes[i % sizes.length]!, data.length - at);
    parts.push(Buffer.from(`${size.toString(16)}${i === 2 ? ';name="v"' : ''}\r\n`, 'latin1'), data.subarray(at, at + size), Buffer.from('\r\n', 'latin1'));
    at += size;
  }
  parts.push(Buffer.from('0\r\nX-Checksum: abc123\r\n\r\n', 'latin1'));
  return Buffer.concat(parts);
}

/**
 * A raw HTTP/1.1 upstream, so its bytes are exactly what the test says:
 * keep-alive, one answer per request head by path, and the number of
 * connections it accepted.
 */
async function startRawUpstream(t: Parameters<typeof serve>[0]) {
  const answers: Record<string, Buffer | string> = {
    '/chunked': Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n', 'latin1'), chunked(payload)]),
    '/malformed': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nmore\r\n',
    // A body that never ends: the client has to go away.
    '/endless': 'HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nfirst bytes',
  };
  let connections = 0;
  let closed = 0;
  const server = trackSockets(
    net.createServer((socket) => {
      connections++;
      let buf = '';
      socket.on('error', () => socket.destroy());
      socket.on('close', () => closed++);
      socket.on('data', (chunk: Buffer) => {
        buf += chunk.toString('latin1');
        for (let end = buf.indexOf('\r\n\r\n'); end !== -1; end = buf.indexOf('\r\n\r\n')) {
          const path = buf.slice(0, buf.indexOf('\r\n')).split(' ')[1]!;
          buf = buf.slice(end + 4);
          const body = `hit ${path}`;
          socket.write(answers[path] ?? `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        }
      });
    }),
  );
  const started = await serve(t, server);
  return { port: started.port, connections: () => connections, closed: () => closed };
}

t.test('handed-over requests reuse one pooled upstream connection, shared with the fast engine', async (t) => {
  const upstream = await startRawUpstream(t);
  const fronts = await startThreeFronts(t, upstream.port);
  const first = await fronts.connect('node');
  for (let i = 0; i < 3; i++) {
    const done = readUntil(first, `hit /n${i}`);
    first.write(`GET /n${i} HTTP/1.1\r\nHost: p.test\r\n\r\n`);
    await done;
  }
  first.destroy();
  // Another client connection, handed over too, then one the fast engine serves: the same upstream socket.
  const second = await fronts.connect('node');
  const again = readUntil(second, 'hit /again');
  second.write('GET /again HTTP/1.1\r\nHost: p.test\r\n\r\n');
  await again;
  second.destroy();
  const fast = await fronts.send('fast', 'GET /fast HTTP/1.1\r\nHost: p.test\r\nConnection: close\r\n\r\n');
  t.match(fast, /hit \/fast/);
  t.equal(upstream.connections(), 1, 'one upstream connection for every request');
});

t.test('HTTP/2 requests reuse one pooled upstream connection', async (t) => {
  const upstream = await startRawUpstream(t);
  const fronts = await startThreeFronts(t, upstream.port);
  const session = await h2Session(t, fronts.tlsPort, 'p.test');
  for (let i = 0; i < 3; i++) {
    const res = await h2Request(session, { ':method': 'GET', ':path': `/h${i}`, ':authority': 'p.test' });
    t.equal(res.status, 200);
    t.equal(res.body.toString(), `hit /h${i}`);
  }
  const other = await h2Session(t, fronts.tlsPort, 'p.test');
  t.equal((await h2Request(other, { ':method': 'GET', ':path': '/other', ':authority': 'p.test' })).body.toString(), 'hit /other');
  t.equal(upstream.connections(), 1, 'one upstream connection for every stream of both sessions');
});

t.test('a chunked upstream response reaches an HTTP/2 client decoded, byte-exact, with its trailers', async (t) => {
  const upstream = await startRawUpstream(t);
  const fronts = await startThreeFronts(t, upstream.port);
  const session = await h2Session(t, fronts.tlsPort, 'p.test');
  const { status, body, trailers } = await new Promise<{ status: number; body: Buffer; trailers: http2.IncomingHttpHeaders }>((resolve, reject) => {
    const stream = session.request({ ':method': 'GET', ':path': '/chunked', ':authority': 'p.test', te: 'trailers' });
    const chunks: Buffer[] = [];
    let status = 0;
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('trailers', (headers) => (trailers = headers));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status, body: Buffer.concat(chunks), trailers }));
    stream.on('error', reject);
  });
  t.equal(status, 200);
  t.equal(body.length, payload.length, 'no size line, extension or CRLF reached the client');
  t.equal(sha(body), sha(payload), 'byte-exact');
  t.equal(trailers['x-checksum'], 'abc123', 'the trailer went on as an HTTP/2 trailer');
  // Read to its exact end, the upstream connection went back to the pool.
  t.equal((await h2Request(session, { ':method': 'GET', ':path': '/next', ':authority': 'p.test' })).body.toString(), 'hit /next');
  t.equal(upstream.connections(), 1);
});

t.test('a malformed chunked upstream response is cut off on every engine, and the proxy lives on', async (t) => {
  const upstream = await startRawUpstream(t);
  const fronts = await startThreeFronts(t, upstream.port);

  const session = await h2Session(t, fronts.tlsPort, 'p.test');
  const h2 = await new Promise<{ status: number; ended: boolean; rstCode: number; body: string }>((resolve) => {
    const stream = session.request({ ':method': 'GET', ':path': '/malformed', ':authority': 'p.test' });
    let status = 0;
    let ended = false;
    let body = '';
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (chunk: Buffer) => (body += chunk.toString('latin1')));
    stream.on('end', () => (ended = true));
    stream.on('error', () => undefined);
    stream.on('close', () => resolve({ status, ended, rstCode: stream.rstCode ?? 0, body }));
  });
  t.equal(h2.status, 200, 'the head went out before the body broke');
  t.not(h2.rstCode, http2.constants.NGHTTP2_NO_ERROR, 'the stream was reset');
  t.notOk(h2.body.includes('zz') || h2.body.includes('more'), 'no byte of the broken framing reached the client');

  const node = await fronts.connect('node');
  let cut = false;
  node.once('end', () => (cut = true));
  node.once('error', () => (cut = true));
  const reply = collect(node, 400);
  node.write('GET /malformed HTTP/1.1\r\nHost: p.test\r\n\r\n');
  const text = await reply;
  // Node's server had the head and what came before the break in its buffers when the connection was destroyed: none of it may be flushed, and never a last chunk.
  t.notOk(text.endsWith('0\r\n\r\n'), 'the handed-over client got a response cut short');
  t.notOk(text.includes('zz') || text.includes('more'), 'and no byte of the broken framing');
  t.ok(cut, 'the proxy closed its connection');

  // The proxy serves on, on both engines.
  t.equal((await h2Request(session, { ':method': 'GET', ':path': '/after', ':authority': 'p.test' })).body.toString(), 'hit /after');
  const fast = await fronts.send('fast', 'GET /after-fast HTTP/1.1\r\nHost: p.test\r\nConnection: close\r\n\r\n');
  t.match(fast, /hit \/after-fast/);
});

t.test('a client that goes away mid-response has its upstream connection closed at once, never pooled', async (t) => {
  const upstream = await startRawUpstream(t);
  const fronts = await startThreeFronts(t, upstream.port);

  const session = await h2Session(t, fronts.tlsPort, 'p.test');
  const stream = session.request({ ':method': 'GET', ':path': '/endless', ':authority': 'p.test' });
  stream.on('error', () => undefined);
  await new Promise<void>((resolve) => stream.once('data', () => resolve()));
  stream.close(http2.constants.NGHTTP2_CANCEL);
  t.ok(await eventually(() => upstream.closed() === 1, 2000), 'the HTTP/2 reset closed the upstream connection');

  const node = await fronts.connect('node');
  const head = readUntil(node, 'first bytes');
  node.write('GET /endless HTTP/1.1\r\nHost: p.test\r\n\r\n');
  await head;
  node.destroy();
  t.ok(await eventually(() => upstream.closed() === 2, 2000), 'the handed-over client closing closed the upstream connection');

  // Neither went back to the pool: the next request opens a connection of its own.
  t.equal((await h2Request(session, { ':method': 'GET', ':path': '/next', ':authority': 'p.test' })).body.toString(), 'hit /next');
  t.equal(upstream.connections(), 3);
});

t.test('a PROXY header goes before the TLS handshake of a re-encrypted upstream, from the HTTP/2 engine', async (t) => {
  const seen: string[] = [];
  // Reads the PROXY line off the TCP stream, then speaks TLS and HTTP/1.1 on the rest.
  const server = trackSockets(
    net.createServer((raw) => {
      raw.on('error', () => raw.destroy());
      raw.once('data', (chunk: Buffer) => {
        const eol = chunk.indexOf('\r\n');
        seen.push(chunk.subarray(0, eol).toString('latin1'));
        raw.pause();
        if (eol + 2 < chunk.length) raw.unshift(chunk.subarray(eol + 2));
        const secure = new tls.TLSSocket(raw, { isServer: true, key: upstreamCert.key, cert: upstreamCert.cert });
        secure.on('error', () => raw.destroy());
        let head = '';
        secure.on('data', (data: Buffer) => {
          head += data.toString('latin1');
          if (!head.includes('\r\n\r\n')) return;
          head = '';
          secure.write('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nproxied!');
        });
      });
    }),
  );
  const upstream = await serve(t, server);
  const port = await getFreePort();
  await startProxy(t, [
    {
      name: 'reencrypt',
      match: { ports: port, domains: 'p.test' },
      action: { type: 'forward', target: { host: '127.0.0.1', port: upstream.port, proxyProtocol: 'v1' }, tls: { mode: 'terminate-and-reencrypt', certificate: frontCert, upstream: { verify: false } } },
    },
  ]);
  const session = await h2Session(t, port, 'p.test');
  for (let i = 0; i < 2; i++) {
    const res = await h2Request(session, { ':method': 'GET', ':path': '/', ':authority': 'p.test' });
    t.equal(res.body.toString(), 'proxied!');
  }
  t.equal(seen.length, 1, 'one connection for both streams of the client: the pool keys it by client');
  t.match(seen[0], /^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+$/);
});
