import t from 'tap';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { startHttpBackend, httpGet } from './helpers/backends.js';
import { closed, eventually, rawConnect, serve, startHttpServer, startProxy, trackSockets, type Teardown } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';
import type { IRouteConfig } from '../ts/index.js';

const MiB = 1024 * 1024;

function forward(name: string, port: number, domains: string | undefined, target: number, extra: Partial<IRouteConfig['match']> = {}): IRouteConfig {
  return { name, match: { ports: port, ...(domains ? { domains } : {}), ...extra }, action: { type: 'forward', target: { host: '127.0.0.1', port: target } } };
}

/** A deterministic body of `size` bytes, written in 64 KiB chunks with back-pressure; resolves with its sha256. */
interface Sink {
  write(chunk: Buffer): boolean;
  end(): unknown;
  once(event: 'drain', listener: () => void): unknown;
}

function writeBody(stream: Sink, size: number, onProgress?: (written: number) => void): Promise<string> {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(64 * 1024);
  return new Promise((resolve) => {
    let written = 0;
    const pump = () => {
      while (written < size) {
        chunk.fill(written / chunk.length);
        const piece = chunk.subarray(0, Math.min(chunk.length, size - written));
        hash.update(piece);
        written += piece.length;
        onProgress?.(written);
        if (!stream.write(Buffer.from(piece))) return void stream.once('drain', pump);
      }
      stream.end();
      resolve(hash.digest('hex'));
    };
    pump();
  });
}

async function hashOf(stream: NodeJS.ReadableStream): Promise<{ hash: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { hash: hash.digest('hex'), bytes };
}

t.test('one keep-alive client connection reaches two routes, each request routed by Host', async (t) => {
  const a = await startHttpBackend('a');
  const b = await startHttpBackend('b');
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', a.port), forward('b', port, 'b.test', b.port)]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const ask = (host: string) =>
    new Promise<{ name: string; local: number | undefined }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, agent, headers: { host } }, (res) => {
          const local = res.socket.localPort;
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ name: (JSON.parse(body) as { name: string }).name, local }));
        })
        .on('error', reject);
    });
  const first = await ask('a.test');
  const second = await ask('b.test');
  const third = await ask('a.test');
  t.same([first.name, second.name, third.name], ['a', 'b', 'a']);
  t.equal(second.local, first.local, 'same client connection');
  t.equal(third.local, first.local, 'same client connection');
});

t.test('10 MiB upload and download stream through byte-exact', async (t) => {
  const backend = await startHttpServer(t, (req, res) => {
    if (req.method === 'POST') {
      void hashOf(req).then(({ hash, bytes }) => res.end(JSON.stringify({ hash, bytes })));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    void writeBody(res, 10 * MiB);
  });
  const port = await getFreePort();
  await startProxy(t, [forward('big', port, 'big.test', backend.port)]);

  const upload = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/up', agent: false, headers: { host: 'big.test' } });
  const uploadResponse = once(upload, 'response') as Promise<[http.IncomingMessage]>;
  const sentHash = await writeBody(upload, 10 * MiB);
  const [res] = await uploadResponse;
  const received = JSON.parse(await bodyText(res)) as { hash: string; bytes: number };
  t.equal(received.bytes, 10 * MiB, 'backend received every byte');
  t.equal(received.hash, sentHash, 'backend received the same bytes');

  const expected = await writeBody(new HashSink(), 10 * MiB);
  const download = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/down', agent: false, headers: { host: 'big.test' } }, resolve).on('error', reject);
  });
  const got = await hashOf(download);
  t.equal(got.bytes, 10 * MiB);
  t.equal(got.hash, expected);
});

t.test('a slow reader holds the upstream back instead of the proxy buffering the body', async (t) => {
  const size = 64 * MiB;
  let written = 0;
  const backend = await startHttpServer(t, (_req, res) => {
    res.writeHead(200);
    void writeBody(res, size, (n) => (written = n));
  });
  const port = await getFreePort();
  await startProxy(t, [forward('big', port, '*', backend.port)]);
  const download = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, agent: false }, resolve).on('error', reject);
  });
  download.pause();
  // Wait until the backend stops making progress: every buffer on the way is full.
  let last = -1;
  await eventually(() => {
    const stalled = written === last;
    last = written;
    return stalled && written > 0;
  }, 10_000);
  t.ok(written < size / 2, `the backend stalled after ${(written / MiB).toFixed(1)} MiB of ${size / MiB} (socket buffers, not the proxy)`);
  const got = await hashOf(download);
  t.equal(got.bytes, size, 'everything arrives once the client reads');
});

t.test('upload back-pressure: a backend that does not read stalls the client', async (t) => {
  const size = 64 * MiB;
  let release: (() => void) | undefined;
  const backend = await startHttpServer(t, (req, res) => {
    req.pause();
    release = () => void hashOf(req).then(({ hash, bytes }) => res.end(JSON.stringify({ hash, bytes })));
  });
  const port = await getFreePort();
  await startProxy(t, [forward('big', port, '*', backend.port)]);
  let written = 0;
  const upload = http.request({ host: '127.0.0.1', port, method: 'PUT', agent: false });
  const response = once(upload, 'response') as Promise<[http.IncomingMessage]>;
  const sent = writeBody(upload, size, (n) => (written = n));
  let last = -1;
  await eventually(() => {
    const stalled = release !== undefined && written === last;
    last = written;
    return stalled;
  }, 10_000);
  t.ok(written < size / 2, `the client stalled after ${(written / MiB).toFixed(1)} MiB of ${size / MiB}`);
  release!();
  const sentHash = await sent;
  const [res] = await response;
  const result = JSON.parse(await bodyText(res)) as { hash: string; bytes: number };
  t.equal(result.bytes, size);
  t.equal(result.hash, sentHash);
});

t.test('an upstream that refuses gives 502 and the proxy keeps serving', async (t) => {
  const dead = await getFreePort();
  const live = await startHttpBackend('live');
  t.teardown(() => live.close());
  const port = await getFreePort();
  await startProxy(t, [forward('dead', port, 'dead.test', dead), forward('live', port, 'live.test', live.port)]);
  const refused = await httpGet(port, { host: 'dead.test' });
  t.equal(refused.status, 502);
  t.ok(refused.body.length > 0 && refused.body.length < 200, 'a short body');
  t.equal((await httpGet(port, { host: 'live.test' })).status, 200);
  t.equal((await httpGet(port, { host: 'dead.test' })).status, 502, 'again');
});

t.test('an upstream that never answers gives 504 after upstreamResponseMs', async (t) => {
  const hung: http.IncomingMessage[] = [];
  const backend = await startHttpServer(t, (req) => void hung.push(req));
  const port = await getFreePort();
  await startProxy(t, [forward('hang', port, '*', backend.port)], { timeouts: { upstreamResponseMs: 300 } });
  const res = await httpGet(port, {});
  t.equal(res.status, 504);
  t.equal(hung.length, 1);
  t.ok(await eventually(() => hung[0]!.socket.destroyed), 'the upstream connection is closed');
});

t.test('an upstream that stalls mid-body tears the client connection instead of hanging it', async (t) => {
  const backend = await startHttpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-length': 1000 });
    res.write('x'.repeat(100));
  });
  const port = await getFreePort();
  await startProxy(t, [forward('stall', port, '*', backend.port)], { timeouts: { upstreamResponseMs: 300 } });
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => http.get({ host: '127.0.0.1', port, agent: false }, resolve).on('error', reject));
  t.equal(res.statusCode, 200);
  const outcome = await new Promise<string>((resolve) => {
    res.resume();
    res.on('end', () => resolve('end'));
    res.on('error', (e) => resolve(`error ${e.message}`));
    res.on('aborted', () => resolve('aborted'));
  });
  t.not(outcome, 'end', `the client sees the response cut short (${outcome})`);
});

t.test('a client that aborts mid-upload aborts the upstream request and leaves no socket open', async (t) => {
  const seen: { complete: boolean; closed: boolean }[] = [];
  const backend = await startHttpServer(t, (req, res) => {
    const entry = { complete: false, closed: false };
    seen.push(entry);
    req.resume();
    req.on('end', () => {
      entry.complete = true;
      res.end('ok');
    });
    req.on('close', () => (entry.closed = true));
  });
  const port = await getFreePort();
  await startProxy(t, [forward('up', port, '*', backend.port)]);
  const client = await rawConnect(port);
  client.write('POST /upload HTTP/1.1\r\nHost: up.test\r\nContent-Length: 1000000\r\n\r\n');
  client.write('y'.repeat(10_000));
  t.ok(await eventually(() => seen.length === 1), 'the upstream got the request');
  client.destroy();
  t.ok(await eventually(() => seen[0]!.closed), 'the upstream request was aborted');
  t.equal(seen[0]!.complete, false);
  t.ok(await eventually(() => backend.sockets.size === 0), 'no upstream socket left open');
});

t.test('a client that aborts mid-download closes the upstream response', async (t) => {
  let upstreamClosed = false;
  const backend = await startHttpServer(t, (_req, res) => {
    res.writeHead(200);
    const timer = setInterval(() => res.write('z'.repeat(1024)), 5);
    res.on('close', () => {
      clearInterval(timer);
      upstreamClosed = true;
    });
  });
  const port = await getFreePort();
  await startProxy(t, [forward('down', port, '*', backend.port)]);
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => http.get({ host: '127.0.0.1', port, agent: false }, resolve).on('error', reject));
  await once(res, 'data');
  res.socket.destroy();
  t.ok(await eventually(() => upstreamClosed), 'the upstream response was closed');
  t.ok(await eventually(() => backend.sockets.size === 0), 'and its socket');
});

t.test('X-Forwarded-* from an untrusted client are replaced', async (t) => {
  const backend = await startHttpBackend('b');
  t.teardown(() => backend.close());
  const port = await getFreePort();
  await startProxy(t, [forward('b', port, 'a.test', backend.port)]);
  const res = await httpGet(port, {
    host: 'a.test',
    headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.test', 'x-forwarded-port': '1' },
  });
  const headers = res.json<{ headers: Record<string, string> }>().headers;
  t.equal(headers['x-forwarded-for'], '127.0.0.1');
  t.equal(headers['x-forwarded-proto'], 'http');
  t.equal(headers['x-forwarded-host'], 'a.test');
  t.equal(headers['x-forwarded-port'], String(port));
  t.equal(headers['host'], 'a.test');
});

t.test('X-Forwarded-* from a trusted proxy are kept and the chain extended', async (t) => {
  const backend = await startHttpBackend('b');
  t.teardown(() => backend.close());
  const port = await getFreePort();
  await startProxy(t, [forward('b', port, 'a.test', backend.port)], { trustedProxies: ['127.0.0.1'] });
  const res = await httpGet(port, {
    host: 'a.test',
    headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.2', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'public.test', 'x-forwarded-port': '443' },
  });
  const headers = res.json<{ headers: Record<string, string> }>().headers;
  t.equal(headers['x-forwarded-for'], '203.0.113.7, 10.0.0.2, 127.0.0.1');
  t.equal(headers['x-forwarded-proto'], 'https');
  t.equal(headers['x-forwarded-host'], 'public.test');
  t.equal(headers['x-forwarded-port'], '443');
  const bare = (await httpGet(port, { host: 'a.test' })).json<{ headers: Record<string, string> }>().headers;
  t.equal(bare['x-forwarded-for'], '127.0.0.1', 'a trusted peer without XFF gets one');
});

t.test('hop-by-hop headers are stripped both ways, including those named in Connection', async (t) => {
  let seen: http.IncomingHttpHeaders = {};
  const backend = await startHttpServer(t, (req, res) => {
    seen = req.headers;
    res.writeHead(200, {
      connection: 'x-internal',
      'x-internal': 'secret',
      'keep-alive': 'timeout=99',
      'proxy-authenticate': 'Basic',
      'x-end-to-end': 'kept',
    });
    res.end('ok');
  });
  const port = await getFreePort();
  await startProxy(t, [forward('b', port, '*', backend.port)]);
  const res = await httpGet(port, {
    host: 'a.test',
    headers: {
      connection: 'keep-alive, X-Secret-Hop',
      'x-secret-hop': '1',
      'keep-alive': 'timeout=5',
      'proxy-authorization': 'Basic Zm9v',
      te: 'trailers',
      'x-end-to-end': 'kept',
    },
  });
  t.equal(res.status, 200);
  for (const name of ['x-secret-hop', 'keep-alive', 'proxy-authorization', 'te']) t.notOk(name in seen, `upstream does not see ${name}`);
  t.equal(seen['x-end-to-end'], 'kept');
  t.equal(seen['host'], 'a.test');
  for (const name of ['x-internal', 'proxy-authenticate']) t.notOk(name in res.headers, `client does not see ${name}`);
  t.not(res.headers['keep-alive'], 'timeout=99', "the upstream's Keep-Alive is not relayed (the proxy may send its own)");
  t.equal(res.headers['x-end-to-end'], 'kept');
});

t.test('request bodies keep their framing: chunked, content-length and none', async (t) => {
  const seen: { method: string; url: string; body: string }[] = [];
  const backend = await startHttpServer(t, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body });
      res.end('ok');
    });
  });
  const port = await getFreePort();
  await startProxy(t, [forward('b', port, '*', backend.port)]);
  const client = await rawConnect(port);
  client.write('POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
  client.write('PUT /length HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc');
  client.write('DELETE /none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const replies = await closed(client);
  t.equal(replies.match(/HTTP\/1\.1 200/g)?.length, 3, 'three answers');
  t.same(seen, [
    { method: 'POST', url: '/chunked', body: 'hello world' },
    { method: 'PUT', url: '/length', body: 'abc' },
    { method: 'DELETE', url: '/none', body: '' },
  ]);
});

async function bodyText(res: http.IncomingMessage): Promise<string> {
  let body = '';
  res.setEncoding('utf8');
  for await (const chunk of res) body += chunk as string;
  return body;
}

/** A writable that only hashes, to compute the expected digest of writeBody's output. */
class HashSink implements Sink {
  write(): boolean {
    return true;
  }
  end(): void {}
  once(): this {
    return this;
  }
}

t.test('a pooled upstream connection that the upstream dropped is retried once for a bodiless idempotent request', async (t) => {
  // Each connection answers its first request and resets on the second: the
  // race of an upstream closing an idle keep-alive connection just as the
  // proxy reuses it, made deterministic.
  let connections = 0;
  const upstream = await serve(
    t,
    trackSockets(
      net.createServer((socket) => {
        connections++;
        let requests = 0;
        socket.on('error', () => undefined);
        socket.on('data', (chunk: Buffer) => {
          if (!chunk.includes('\r\n\r\n')) return;
          if (++requests === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
          else socket.resetAndDestroy();
        });
      }),
    ),
  );
  const port = await getFreePort();
  await startProxy(t, [forward('flaky', port, '*', upstream.port)]);
  t.equal((await httpGet(port, { host: 'a.test' })).body, 'ok');
  const retried = await httpGet(port, { host: 'a.test' });
  t.equal(retried.status, 200, 'GET on a dropped pooled connection is retried');
  t.equal(retried.body, 'ok');
  t.equal(connections, 2, 'on a new connection');
  const post = await httpGet(port, { host: 'a.test', method: 'POST', body: 'data' });
  t.equal(post.status, 502, 'a request with a body is not replayed');
});

t.test('a client that sends no request head is closed after headersMs; idle keep-alive after keepAliveMs', async (t) => {
  const backend = await startHttpBackend('b');
  t.teardown(() => backend.close());
  const port = await getFreePort();
  await startProxy(t, [forward('b', port, '*', backend.port)], { timeouts: { headersMs: 500, keepAliveMs: 300 } });
  const silent = await rawConnect(port);
  const started = Date.now();
  silent.write('GET / HTTP/1.1\r\nHost: a');
  // A partial head is a request in progress: it is answered 408 (an idle connection with no byte sent would be closed silently).
  t.match(await closed(silent), /^HTTP\/1\.1 408 Request Timeout\r\n/, 'answered 408 and closed without completing the head');
  t.ok(Date.now() - started >= 450, 'not before headersMs');
  const idle = await rawConnect(port);
  const reply = await closed((idle.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n'), idle));
  t.match(reply, /^HTTP\/1\.1 200/, 'answered, then closed once idle');
});

t.test('an upstream that never accepts the connection gives 504 after upstreamConnectMs (HTTP) or a close (TCP)', async (t) => {
  const port = await unacceptingPort(t);
  const httpPort = await getFreePort();
  const tcpPort = await getFreePort();
  await startProxy(t, [forward('http', httpPort, '*', port), forward('tcp', tcpPort, undefined, port)], {
    timeouts: { upstreamConnectMs: 300, upstreamResponseMs: 120_000 },
  });
  const res = await httpGet(httpPort, { host: 'a.test' });
  t.equal(res.status, 504);
  t.match(res.body, /did not accept the connection/, 'the connect timeout, not the response timeout, fired');
  const client = await rawConnect(tcpPort);
  client.write('hello');
  t.equal(await closed(client), '', 'the TCP client is closed');
});

/**
 * A port whose connections hang in SYN_SENT: a listener with backlog 0 that
 * never accepts, its one queue slot taken. Node always accepts, so Python
 * (on every machine of this project's kind) holds the listener.
 */
async function unacceptingPort(t: Teardown): Promise<number> {
  const script = "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)";
  const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await new Promise<number | undefined>((resolve) => {
    child.once('error', () => resolve(undefined));
    child.stdout.once('data', (data: Buffer) => resolve(Number(data.toString().trim())));
  });
  if (port === undefined) throw new Error('this test needs python3 on PATH (apt-get install -y python3)');
  t.teardown(() => void child.kill());
  const filler = net.connect(port, '127.0.0.1');
  filler.on('error', () => undefined);
  t.teardown(() => void filler.destroy());
  await once(filler, 'connect');
  return port;
}
