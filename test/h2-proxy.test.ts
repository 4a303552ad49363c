// HTTP/2 to clients on terminated TLS: ALPN picks h2 by default and the
// stream goes through the same pipeline as HTTP/1.1 to the HTTP/1.1
// upstream (Host from :authority, cookies joined, X-Forwarded-Proto),
// `action.tls.http2: false` keeps a route on HTTP/1.1, bodies are relayed
// byte-exact both ways, and coalesced connections get 421 for a name
// another certificate serves.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { createCertificateAuthority, createSelfSignedCertificate, type IRouteConfig } from '../ts/index.js';
import { eventually, serve, startHttpServer, startProxy, trackSockets } from './helpers/data-path.js';
import https from 'node:https';
import type http2 from 'node:http2';
import { getFreePort } from './helpers/free-port.js';
import { curl, h2Request, h2Session } from './helpers/h2-client.js';

const ca = createCertificateAuthority('h2 test CA');
const certShared = createSelfSignedCertificate({ domains: ['a.test', 'b.test'], issuer: ca });
const certC = createSelfSignedCertificate({ domains: ['c.test'], issuer: ca });
const big = randomBytes(1024 * 1024);
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function startEchoUpstream(t: Parameters<typeof startHttpServer>[0]) {
  return startHttpServer(t, (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.url === '/big') return res.end(big);
      const body = Buffer.concat(chunks);
      res.setHeader('content-type', 'application/json');
      res.setHeader('connection', 'keep-alive');
      res.setHeader('keep-alive', 'timeout=5');
      res.end(JSON.stringify({ url: req.url, method: req.method, version: req.httpVersion, headers: req.headers, bytes: body.length, sha: sha(body) }));
    });
  });
}

function terminate(name: string, port: number, domains: string, target: number, certificate: { key: string; cert: string }, http2?: boolean): IRouteConfig {
  return {
    name,
    match: { ports: port, domains },
    action: { type: 'forward', target: { host: '127.0.0.1', port: target }, tls: { mode: 'terminate', certificate, ...(http2 === undefined ? {} : { http2 }) } },
  };
}

t.test('curl --http2 and --http1.1 on the same route; http2: false stays on HTTP/1.1', async (t) => {
  const upstream = await startEchoUpstream(t);
  const port = await getFreePort();
  await startProxy(t, [terminate('a', port, 'a.test', upstream.port, certShared), terminate('c', port, 'c.test', upstream.port, certC, false)]);
  const h2 = await curl(port, 'a.test', '/x?y=1', '--http2', ['-H', 'Cookie: one=1', '-H', 'Cookie: two=2']);
  t.equal(h2.status, 200);
  t.equal(h2.httpVersion, '2', 'curl --http2 gets HTTP/2');
  const seen = JSON.parse(h2.body);
  t.equal(seen.url, '/x?y=1');
  t.equal(seen.version, '1.1', 'the upstream is spoken to over HTTP/1.1');
  t.equal(seen.headers.host, `a.test:${port}`, 'Host comes from :authority');
  t.equal(seen.headers['x-forwarded-proto'], 'https');
  t.equal(seen.headers.cookie, 'one=1; two=2', 'cookie fields are joined with "; "');
  const h1 = await curl(port, 'a.test', '/x', '--http1.1');
  t.equal(h1.status, 200);
  t.equal(h1.httpVersion, '1.1', 'curl --http1.1 gets HTTP/1.1 on the same route');
  const off = await curl(port, 'c.test', '/', '--http2');
  t.equal(off.status, 200);
  t.equal(off.httpVersion, '1.1', 'a route with http2: false is offered HTTP/1.1 only');
});

t.test('100 concurrent streams on one session, and 1 MiB up and down byte-exact', async (t) => {
  const upstream = await startEchoUpstream(t);
  const port = await getFreePort();
  const proxy = await startProxy(t, [terminate('a', port, 'a.test', upstream.port, certShared)]);
  const session = await h2Session(t, port, 'a.test');
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => h2Request(session, { ':path': `/s${i}`, ':authority': 'a.test' })));
  t.equal(results.filter((r) => r.status === 200).length, 100, 'every stream answered 200');
  t.ok(results.every((r, i) => JSON.parse(r.body.toString()).url === `/s${i}`), 'each stream got its own answer');
  t.notOk('connection' in results[0]!.headers || 'keep-alive' in results[0]!.headers, 'connection-specific response headers are dropped');
  t.ok(await eventually(() => (proxy.getMetrics().routes.a?.requests ?? 0) >= 100), 'each stream is counted as a request of its route');

  const down = await h2Request(session, { ':path': '/big', ':authority': 'a.test' });
  t.equal(down.body.length, big.length);
  t.equal(sha(down.body), sha(big), '1 MiB download is byte-exact');
  const up = await h2Request(session, { ':path': '/upload', ':method': 'POST', ':authority': 'a.test' }, big);
  const seen = JSON.parse(up.body.toString());
  t.equal(seen.bytes, big.length);
  t.equal(seen.sha, sha(big), '1 MiB upload (no Content-Length: chunked upstream) is byte-exact');
  t.equal(seen.headers['transfer-encoding'], 'chunked');
  const empty = await h2Request(session, { ':path': '/empty', ':method': 'POST', ':authority': 'a.test', 'content-length': 0 }, '');
  t.equal(JSON.parse(empty.body.toString()).bytes, 0, 'an empty body framed by Content-Length: 0 and an empty DATA frame');
  const sized = await h2Request(session, { ':path': '/upload', ':method': 'PUT', ':authority': 'a.test', 'content-length': big.length }, big);
  t.equal(JSON.parse(sized.body.toString()).sha, sha(big), 'with a Content-Length too');
  t.ok(await eventually(() => proxy.getMetrics().routes.a?.requests === 104), 'every stream closed and was counted once (no slot left taken)');
  t.equal(proxy.getMetrics().routes.a?.activeConnections ?? 0, 0);
});

t.test('coalescing: a name on the same certificate is served, another certificate gets 421', async (t) => {
  const upstream = await startEchoUpstream(t);
  const port = await getFreePort();
  await startProxy(t, [terminate('a', port, 'a.test', upstream.port, certShared), terminate('b', port, 'b.test', upstream.port, certShared), terminate('c', port, 'c.test', upstream.port, certC)]);
  const session = await h2Session(t, port, 'a.test');
  const same = await h2Request(session, { ':path': '/', ':authority': 'b.test' });
  t.equal(same.status, 200, 'b.test on a connection made for a.test, same certificate: served');
  t.equal(JSON.parse(same.body.toString()).headers.host, 'b.test');
  const other = await h2Request(session, { ':path': '/', ':authority': 'c.test' });
  t.equal(other.status, 421, 'c.test has another certificate: 421 Misdirected Request');
  const unknown = await h2Request(session, { ':path': '/', ':authority': 'nowhere.test' });
  t.equal(unknown.status, 404, 'no route: 404, as on HTTP/1.1');
});

t.test('malformed requests are answered as HTTP/1.1 would answer them', async (t) => {
  const upstream = await startEchoUpstream(t);
  const port = await getFreePort();
  await startProxy(t, [terminate('a', port, 'a.test', upstream.port, certShared)]);
  const session = await h2Session(t, port, 'a.test');
  const mismatch = await h2Request(session, { ':path': '/', ':authority': 'a.test', host: 'c.test' });
  t.equal(mismatch.status, 400, ':authority and Host naming different hosts: 400');
  const many = await h2Request(session, Object.fromEntries([[':path', '/'], [':authority', 'a.test'], ...Array.from({ length: 120 }, (_, i) => [`x-h${i}`, 'v'])]));
  t.equal(many.status, 431, 'more header fields than limits.maxHeaderCount: 431');
});

t.test('terminate-and-reencrypt offers h2 too; the upstream gets HTTP/1.1 over TLS', async (t) => {
  const upstream = await serve(
    t,
    trackSockets(
      https.createServer({ key: certC.key, cert: certC.cert }, (req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ version: req.httpVersion, proto: req.headers['x-forwarded-proto'], host: req.headers.host }));
      }),
    ),
  );
  const port = await getFreePort();
  await startProxy(t, [
    { name: 're', match: { ports: port, domains: 'c.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: upstream.port }, tls: { mode: 'terminate-and-reencrypt', certificate: certC, upstream: { ca: ca.cert } } } },
  ]);
  const answer = await curl(port, 'c.test', '/', '--http2');
  t.equal(answer.httpVersion, '2');
  t.same(JSON.parse(answer.body), { version: '1.1', proto: 'https', host: `c.test:${port}` });
});

t.test('response trailers reach a client that sent te: trailers', async (t) => {
  const upstream = await startHttpServer(t, (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.method === 'HEAD') return res.end();
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
    res.write('part one, ');
    res.addTrailers({ 'x-checksum': 'abc123', host: 'evil.test' });
    res.end('part two');
  });
  const port = await getFreePort();
  await startProxy(t, [terminate('a', port, 'a.test', upstream.port, certShared)]);
  const session = await h2Session(t, port, 'a.test');
  const withTrailers = await new Promise<{ body: string; trailers: http2.IncomingHttpHeaders | undefined }>((resolve, reject) => {
    const stream = session.request({ ':path': '/', ':authority': 'a.test', te: 'trailers' });
    let body = '';
    let trailers: http2.IncomingHttpHeaders | undefined;
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (body += chunk));
    stream.on('trailers', (received) => (trailers = received));
    stream.on('end', () => resolve({ body, trailers }));
    stream.on('error', reject);
  });
  t.equal(withTrailers.body, 'part one, part two');
  t.equal(withTrailers.trailers?.['x-checksum'], 'abc123', 'the trailer field arrives as an HTTP/2 trailer');
  t.notOk(withTrailers.trailers?.host, 'a routing field is never sent as a trailer');
  const plain = await h2Request(session, { ':path': '/', ':authority': 'a.test' });
  t.equal(plain.body.toString(), 'part one, part two', 'without te: trailers the body is the same, trailers left out');
  const bodiless = await h2Request(session, { ':path': '/', ':authority': 'a.test', ':method': 'HEAD', te: 'trailers' });
  t.equal(bodiless.status, 200, 'HEAD with te: trailers ends cleanly');
});

t.test('an empty response ends with its HEADERS frame; the upstream connection is reused after it', async (t) => {
  const upstream = await startHttpServer(t, (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.setHeader('x-port', String(req.socket.remotePort));
    if (req.url === '/body') return res.end('after');
    res.setHeader('content-length', '0');
    res.end();
  });
  const port = await getFreePort();
  await startProxy(t, [terminate('a', port, 'a.test', upstream.port, certShared)]);
  const session = await h2Session(t, port, 'a.test');
  for (const te of [undefined, 'trailers']) {
    const seen = await new Promise<{ status: number; flags: number; port: unknown; body: number }>((resolve, reject) => {
      const stream = session.request({ ':path': '/empty', ':authority': 'a.test', ...(te === undefined ? {} : { te }) });
      let head: { status: number; flags: number; port: unknown } | undefined;
      let body = 0;
      stream.on('response', (headers, flags) => (head = { status: Number(headers[':status']), flags, port: headers['x-port'] }));
      stream.on('data', (chunk: Buffer) => (body += chunk.length));
      stream.on('end', () => resolve({ ...head!, body }));
      stream.on('error', reject);
    });
    t.equal(seen.status, 200);
    t.equal(seen.body, 0);
    t.ok(seen.flags & 0x1, `END_STREAM is on the HEADERS frame (te: ${te ?? 'none'})`);
    const next = await h2Request(session, { ':path': '/body', ':authority': 'a.test' });
    t.equal(next.body.toString(), 'after', 'the next request is answered in full');
    t.equal(next.headers['x-port'], seen.port, 'on the same upstream connection');
  }
});
