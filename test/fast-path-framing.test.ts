// The fast path's framing end to end: bodies split at every byte boundary
// both ways, bodiless responses, upstream closes, until-close responses,
// pipelining, stale pooled sockets and client aborts.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { delay, eventually, rawConnect, serve, startHttpServer, startProxy, trackSockets, type Teardown } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';
import type { IRouteConfig } from '../ts/index.js';

function forward(name: string, port: number, domains: string, target: number): IRouteConfig {
  return { name, match: { ports: port, domains }, action: { type: 'forward', target: { host: '127.0.0.1', port: target } } };
}

/** A raw upstream: `answer` gets each request head (and the socket) and writes what it likes. Counts connections. */
async function rawUpstream(t: Teardown, answer: (socket: net.Socket, head: string, index: number) => void) {
  let connections = 0;
  const server = trackSockets(
    net.createServer((socket) => {
      connections++;
      let pending = '';
      let index = 0;
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        pending += chunk.toString('latin1');
        let end: number;
        while ((end = pending.indexOf('\r\n\r\n')) !== -1) {
          const head = pending.slice(0, end + 4);
          pending = pending.slice(end + 4);
          answer(socket, head, index++);
        }
      });
    }),
  );
  const served = await serve(t, server);
  return Object.assign(served, { connections: () => connections });
}

/** Reads from a raw socket until `count` complete responses with Content-Length bodies arrived. */
function readResponses(socket: net.Socket, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let text = '';
    const out: string[] = [];
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      for (;;) {
        const end = text.indexOf('\r\n\r\n');
        if (end === -1) break;
        const length = Number(/content-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
        if (text.length < end + 4 + length) break;
        out.push(text.slice(0, end + 4 + length));
        text = text.slice(end + 4 + length);
      }
      if (out.length >= count) {
        socket.off('data', onData);
        resolve(out);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed after ${out.length} responses: ${JSON.stringify(text)}`)));
  });
}

function get(port: number, agent: http.Agent, options: http.RequestOptions = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent, headers: { host: 'a.test' }, ...options }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('request bodies split at every byte boundary arrive whole: chunked and content-length, on one connection', async (t) => {
  const seen: string[] = [];
  const backend = await startHttpServer(t, (req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push(body);
      res.end(`got ${body.length}`);
    });
  });
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', backend.port)]);
  const chunked = 'POST /c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n';
  const length = 'PUT /l HTTP/1.1\r\nHost: a.test\r\nContent-Length: 11\r\n\r\nhello world';
  const client = await rawConnect(port);
  let failures = 0;
  for (const request of [chunked, length]) {
    for (let split = 1; split < request.length; split++) {
      const replies = readResponses(client, 1);
      client.write(request.slice(0, split), 'latin1');
      await delay(1);
      client.write(request.slice(split), 'latin1');
      const [reply] = await replies;
      if (!/^HTTP\/1\.1 200 [^]*got 11$/.test(reply!)) failures++;
    }
  }
  t.equal(failures, 0, 'every split answered');
  t.ok(seen.every((b) => b === 'hello world'), 'every body arrived whole');
  t.equal(seen.length, chunked.length - 1 + length.length - 1);
  t.equal(backend.sockets.size, 1, 'over one pooled upstream connection');
  client.destroy();
});

t.test('response bodies split at every byte boundary arrive whole: chunked and content-length', async (t) => {
  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';
  const length = 'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world';
  const upstream = await rawUpstream(t, (socket, head) => {
    const [, kind, at] = /GET \/(\w+)\/(\d+)/.exec(head)!;
    const response = kind === 'chunked' ? chunked : length;
    const split = Number(at);
    socket.write(response.slice(0, split), 'latin1');
    setTimeout(() => socket.write(response.slice(split), 'latin1'), 1);
  });
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', upstream.port)]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  let failures = 0;
  for (const [kind, response] of [['chunked', chunked], ['length', length]] as const) {
    for (let split = 1; split < response.length; split++) {
      const res = await get(port, agent, { path: `/${kind}/${split}` });
      if (res.status !== 200 || res.body !== 'hello world') failures++;
    }
  }
  t.equal(failures, 0);
  t.equal(upstream.connections(), 1, 'the upstream connection was reused for every response');
});

t.test('HEAD, 204 and 304 have no body whatever their headers say; the connections stay usable', async (t) => {
  const upstream = await rawUpstream(t, (socket, head) => {
    if (head.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
    else if (head.includes('/204')) socket.write('HTTP/1.1 204 No Content\r\n\r\n');
    else if (head.includes('/304')) socket.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody');
  });
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', upstream.port)]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const head = await get(port, agent, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.headers['content-length'], '5', 'HEAD keeps its Content-Length');
  t.equal((await get(port, agent, { path: '/204' })).status, 204);
  t.equal((await get(port, agent, { path: '/304' })).status, 304);
  const after = await get(port, agent, { path: '/after' });
  t.equal(after.body, 'body', 'the next response is framed right');
  t.equal(upstream.connections(), 1, 'one upstream connection carried all four');
});

t.test('an upstream that says Connection: close is not reused; the client connection is kept', async (t) => {
  const upstream = await rawUpstream(t, (socket) => socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'));
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', upstream.port)]);
  const client = await rawConnect(port);
  for (let i = 0; i < 3; i++) {
    const replies = readResponses(client, 1);
    client.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const [reply] = await replies;
    t.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    t.notMatch(reply, /connection: close/i, 'the upstream Connection header is hop-by-hop');
  }
  t.equal(upstream.connections(), 3, 'a new upstream connection each time');
  client.destroy();
});

t.test('an until-close response is re-chunked for an HTTP/1.1 client, whose connection is kept', async (t) => {
  const upstream = await rawUpstream(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst ');
    setTimeout(() => socket.end('second'), 5);
  });
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', upstream.port)]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const a = await get(port, agent);
  t.equal(a.body, 'first second');
  t.equal(a.headers['transfer-encoding'], 'chunked');
  const b = await get(port, agent);
  t.equal(b.body, 'first second');
});

t.test('pipelined requests are answered in order, including one handed to Node in the middle', async (t) => {
  const backend = await startHttpServer(t, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => res.end(`${req.method} ${req.url} ${body}`));
  });
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', backend.port)]);
  const client = await rawConnect(port);
  const replies = readResponses(client, 4);
  client.write(
    'GET /one HTTP/1.1\r\nHost: a.test\r\n\r\n' +
      'POST /two HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabc' +
      'GET /three HTTP/1.1\r\nHost: a.test\r\n\r\n' +
      'GET /four HTTP/1.1\r\nHost: nobody.test\r\n\r\n',
  );
  const r = await replies;
  t.match(r[0], /GET \/one $/);
  t.match(r[1], /POST \/two abc$/);
  t.match(r[2], /GET \/three $/);
  t.match(r[3], /^HTTP\/1\.1 404 /, 'the last one, for no route, answered by the Node path');
  client.destroy();
});

t.test('a pooled upstream connection the upstream closed while idle is not used again', async (t) => {
  const backend = await startHttpServer(t, (_req, res) => res.end('ok'));
  backend.keepAliveTimeout = 50;
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', backend.port)]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  t.equal((await get(port, agent)).body, 'ok');
  t.ok(await eventually(() => backend.sockets.size === 0), 'the upstream closed the idle connection');
  await delay(20);
  for (let i = 0; i < 3; i++) t.equal((await get(port, agent, { method: 'POST' })).body, 'ok', `request ${i} after the close`);
});

t.test('a client that aborts mid-response leaves no socket open on either side', async (t) => {
  let upstreamClosed = false;
  const backend = await startHttpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-length': 10_000_000 });
    const timer = setInterval(() => res.write('z'.repeat(1024)), 2);
    res.on('close', () => {
      clearInterval(timer);
      upstreamClosed = true;
    });
  });
  const port = await getFreePort();
  const proxy = await startProxy(t, [forward('a', port, 'a.test', backend.port)]);
  const client = await rawConnect(port);
  client.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
  await once(client, 'data');
  client.destroy();
  t.ok(await eventually(() => upstreamClosed), 'the upstream response was closed');
  t.ok(await eventually(() => backend.sockets.size === 0), 'no upstream socket left');
  t.ok(await eventually(() => proxy.getMetrics().activeConnections === 0), 'no client connection left');
});

t.test('a malformed chunked request body gets 400 and the connection closes; the upstream connection is dropped', async (t) => {
  const backend = await startHttpServer(t, (req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', backend.port)]);
  const client = await rawConnect(port);
  const done = new Promise<string>((resolve) => {
    let text = '';
    client.on('data', (c: Buffer) => (text += c.toString('latin1')));
    client.once('close', () => resolve(text));
  });
  client.write('POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n');
  t.match(await done, /^HTTP\/1\.1 400 /);
  t.ok(await eventually(() => backend.sockets.size === 0));
});

t.test('Connection: close from the client and HTTP/1.0 requests: answered, then the connection ends', async (t) => {
  const backend = await startHttpServer(t, (req, res) => res.end(`v${req.httpVersion}`));
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', backend.port)]);
  for (const [request, body] of [
    ['GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n', 'v1.1'],
    ['GET / HTTP/1.0\r\nHost: a.test\r\n\r\n', 'v1.1'],
  ] as const) {
    const client = await rawConnect(port);
    const text = new Promise<string>((resolve) => {
      let received = '';
      client.on('data', (c: Buffer) => (received += c.toString('latin1')));
      client.once('close', () => resolve(received));
    });
    client.write(request);
    const reply = await text;
    t.match(reply, /^HTTP\/1\.[01] 200 /, JSON.stringify(request.split('\r\n')[0]));
    t.match(reply, new RegExp(`${body}$`));
  }
});
