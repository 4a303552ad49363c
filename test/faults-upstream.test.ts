// Faults on the other side of the proxy, and clients that half-close: each
// one affects only its own exchange, is answered with a clear status (502,
// 504, a torn connection), and the proxy keeps serving everything else.
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { createSelfSignedCertificate, PortInUseError, type IRouteConfig } from '../ts/index.js';
import { httpGet } from './helpers/backends.js';
import { closed, eventually, exchange, rawConnect, serve, startHttpServer, startProxy, trackSockets } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';
import { probeBind, quietPorts } from './helpers/port-probe.js';

const cert = createSelfSignedCertificate({ domains: ['half.test'] });

function forward(name: string, port: number, domains: string | undefined, target: number, tls?: IRouteConfig['action']['tls']): IRouteConfig {
  return { name, match: { ports: port, ...(domains ? { domains } : {}) }, action: { type: 'forward', target: { host: '127.0.0.1', port: target }, ...(tls ? { tls } : {}) } };
}

/** One request on a keep-alive agent; reports the client socket that carried it. */
function get(port: number, path: string, agent: http.Agent, host = 'a.test'): Promise<{ status: number; body: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, socket: req.socket! }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('an upstream that resets: 502 before the response head, a torn connection after it; the proxy keeps serving', async (t) => {
  const backend = await startHttpServer(t, (req, res) => {
    if (req.url === '/reset-before') return void req.socket.resetAndDestroy();
    if (req.url === '/reset-mid') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1000 });
      res.write('partial', () => setImmediate(() => req.socket.resetAndDestroy()));
      return;
    }
    res.end('ok');
  });
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', backend.port)]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await get(port, '/ok', agent);
  t.equal(first.status, 200);

  const before = await get(port, '/reset-before', agent);
  t.equal(before.status, 502, 'a reset before the response head is a 502');
  t.equal(before.socket, first.socket, 'and the client connection stays open for the next request');

  const socket = await rawConnect(port);
  socket.write('GET /reset-mid HTTP/1.1\r\nHost: a.test\r\n\r\n');
  const torn = await closed(socket);
  t.match(torn, /^HTTP\/1\.1 200 /, 'the head was relayed');
  t.match(torn, /content-length: 1000\r\n/i);
  t.match(torn, /partial$/, 'then the bytes the upstream sent');
  t.ok(torn.length - torn.indexOf('\r\n\r\n') - 4 < 1000, 'and the client connection was torn down instead of hanging on a short body');

  const after = await get(port, '/ok', agent);
  t.equal(after.status, 200, 'the proxy keeps serving');
  t.equal(after.socket, first.socket, 'on the same keep-alive connection');
});

t.test('an upstream that hangs gives 504 after upstreamResponseMs while other requests keep flowing', async (t) => {
  const hanging: http.ServerResponse[] = [];
  const backend = await startHttpServer(t, (req, res) => {
    if (req.url === '/hang') hanging.push(res);
    else res.end('ok');
  });
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', backend.port)], { timeouts: { upstreamResponseMs: 300 } });
  const hung = httpGet(port, { host: 'a.test', path: '/hang' });
  t.ok(await eventually(() => hanging.length === 1), 'the hanging request reached the upstream');
  t.equal((await httpGet(port, { host: 'a.test', path: '/ok' })).status, 200, 'another request is served meanwhile');
  const res = await hung;
  t.equal(res.status, 504);
  t.match(res.body, /upstream timed out/);
  t.equal((await httpGet(port, { host: 'a.test', path: '/ok' })).status, 200, 'and after');
});

t.test('a slow upstream is still served: a late answer within the timeout, a body trickled over longer than it', async (t) => {
  const backend = await startHttpServer(t, (req, res) => {
    if (req.url === '/late') return void setTimeout(() => res.end('late but fine'), 300);
    // Fifteen chunks 100 ms apart: 1.5 s in all, longer than upstreamResponseMs, each gap well inside it.
    res.writeHead(200, { 'content-type': 'text/plain' });
    let n = 0;
    const timer = setInterval(() => {
      res.write(`chunk${n};`);
      if (++n === 15) {
        clearInterval(timer);
        res.end();
      }
    }, 100);
    res.on('close', () => clearInterval(timer));
  });
  const port = await getFreePort();
  await startProxy(t, [forward('a', port, 'a.test', backend.port)], { timeouts: { upstreamResponseMs: 1000 } });
  const late = await httpGet(port, { host: 'a.test', path: '/late' });
  t.equal(late.status, 200);
  t.equal(late.body, 'late but fine');
  const trickle = await httpGet(port, { host: 'a.test', path: '/trickle' });
  t.equal(trickle.status, 200);
  t.equal(trickle.body, Array.from({ length: 15 }, (_, i) => `chunk${i};`).join(''), 'the whole trickled body arrived');
});

/** A raw TCP upstream: reads one request head, then does what `behave` says with the socket. */
async function rawHttpUpstream(t: Parameters<typeof serve>[0], behave: (socket: net.Socket, head: string) => void) {
  const server = trackSockets(
    net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => socket.destroy());
      let head = '';
      const onData = (chunk: Buffer) => {
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        socket.off('data', onData);
        behave(socket, head.slice(0, end));
      };
      socket.on('data', onData);
    }),
  );
  return serve(t, server);
}

t.test('an upstream that half-closes: a close-delimited body arrives whole, a FIN instead of an answer is a 502', async (t) => {
  // HTTP/1.1 without Content-Length or chunking: the body ends with the upstream's FIN (RFC 9112 §6.3).
  const closeDelimited = await rawHttpUpstream(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the');
    setImmediate(() => socket.end(' end'));
  });
  // Answers with a length, then half-closes its side while it could still read.
  const answersThenFin = await rawHttpUpstream(t, (socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  // Reads the request, then sends its FIN without answering.
  const finOnly = await rawHttpUpstream(t, (socket) => socket.end());
  const port = await getFreePort();
  await startProxy(t, [
    forward('delimited', port, 'delimited.test', closeDelimited.port),
    forward('answers', port, 'answers.test', answersThenFin.port),
    forward('fin', port, 'fin.test', finOnly.port),
  ]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());

  const delimited = await get(port, '/', agent, 'delimited.test');
  t.equal(delimited.status, 200);
  t.equal(delimited.body, 'until the end', 'the close-delimited body arrived whole');
  const again = await get(port, '/', agent, 'delimited.test');
  t.equal(again.body, 'until the end');
  t.equal(again.socket, delimited.socket, 'the client keep-alive connection outlives the upstream connection');

  for (let i = 0; i < 3; i++) {
    const res = await get(port, `/${i}`, agent, 'answers.test');
    t.equal(res.status, 200, `request ${i} to an upstream that half-closes after each answer`);
    t.equal(res.body, 'ok');
  }

  const fin = await get(port, '/', agent, 'fin.test');
  t.equal(fin.status, 502, 'a FIN instead of an answer is a 502');
  t.equal((await get(port, '/', agent, 'answers.test')).status, 200, 'and the proxy keeps serving');
});

/** Collects everything until the peer ends, then answers `got:<data>` and ends too: it only replies after the client's FIN. */
function replyAfterFin(socket: net.Socket): void {
  socket.on('error', () => socket.destroy());
  let data = '';
  socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
  socket.on('end', () => socket.end(`got:${data}`));
}

t.test('a client that half-closes on TCP forward and TLS passthrough still gets the reply sent after its FIN', async (t) => {
  const tcpBackend = await serve(t, trackSockets(net.createServer({ allowHalfOpen: true }, replyAfterFin)));
  const tlsBackend = await serve(t, trackSockets(tls.createServer({ key: cert.key, cert: cert.cert, allowHalfOpen: true }, replyAfterFin)));
  const [tcpPort, tlsPort] = [await getFreePort(), await getFreePort()];
  await startProxy(t, [forward('tcp', tcpPort, undefined, tcpBackend.port), forward('pass', tlsPort, 'half.test', tlsBackend.port, { mode: 'passthrough' })]);

  for (let i = 0; i < 3; i++) {
    const socket = net.connect({ host: '127.0.0.1', port: tcpPort, allowHalfOpen: true });
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    const reply = closed(socket);
    socket.write(`hello ${i}`);
    socket.end();
    t.equal(await reply, `got:hello ${i}`, `TCP forward, connection ${i}: the reply sent after the client's FIN arrived`);
  }

  // tls.connect passes allowHalfOpen on to its TLSSocket; its type leaves it out.
  const secure = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'half.test', rejectUnauthorized: false, allowHalfOpen: true } as tls.ConnectionOptions);
  secure.on('error', () => undefined);
  await once(secure, 'secureConnect');
  const reply = closed(secure);
  secure.write('over tls');
  secure.end();
  t.equal(await reply, 'got:over tls', 'TLS passthrough: the reply sent after the client half-closed arrived');
});

t.test('an upstream that half-closes first on TCP forward still receives what the client sends afterwards', async (t) => {
  const received: string[] = [];
  const backend = await serve(
    t,
    trackSockets(
      net.createServer({ allowHalfOpen: true }, (socket) => {
        socket.on('error', () => socket.destroy());
        let data = '';
        socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
        socket.on('end', () => received.push(data));
        socket.end('bye'); // server-speaks-first, then done talking
      }),
    ),
  );
  const port = await getFreePort();
  await startProxy(t, [forward('tcp', port, undefined, backend.port)]);
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  socket.on('error', () => undefined);
  let greeting = '';
  socket.on('data', (chunk: Buffer) => (greeting += chunk.toString('latin1')));
  await once(socket, 'end');
  t.equal(greeting, 'bye', "the upstream's half-close reached the client");
  socket.end('still talking');
  t.ok(await eventually(() => received.length === 1), 'the upstream saw the client finish');
  t.equal(received[0], 'still talking', 'what the client sent after the upstream half-closed arrived');
  await closed(socket);
});

/** Another process (not this one) listening on 127.0.0.1:port until killed. */
async function holdPortInChild(port: number): Promise<{ kill(): Promise<void> }> {
  const script = `require('net').createServer().listen(${port}, '127.0.0.1', () => console.log('ready'))`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`port holder exited with ${code}`)));
  });
  return {
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill();
      await exited;
    },
  };
}

t.test('a port taken by another process in the middle of an update: PortInUseError, nothing applied, everything else keeps serving', async (t) => {
  const gate: (() => void)[] = [];
  const backend = await startHttpServer(t, (req, res) => {
    if (req.url === '/slow') gate.push(() => res.end('slow done'));
    else res.end('ok');
  });
  const echo = await serve(t, trackSockets(net.createServer((socket) => socket.on('error', () => socket.destroy()).pipe(socket))));
  const [httpPort, tcpPort, freePort, takenPort] = await quietPorts(4);
  const routes = [forward('web', httpPort!, 'a.test', backend.port), forward('tcp', tcpPort!, undefined, echo.port)];
  const proxy = await startProxy(t, routes);
  const released: number[] = [];
  proxy.on('port-released', ({ port }) => released.push(port));

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const other = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => (agent.destroy(), other.destroy()));
  const warm = await get(httpPort!, '/', agent);
  const tcp = await rawConnect(tcpPort!);
  t.equal(await exchange(tcp, 'one', 3), 'one');
  const inFlight = get(httpPort!, '/slow', other);
  t.ok(await eventually(() => gate.length === 1), 'a request is in flight during the update');

  const holder = await holdPortInChild(takenPort!);
  t.teardown(() => holder.kill());
  const update = [...routes, forward('new', freePort!, 'new.test', backend.port), forward('taken', takenPort!, 'taken.test', backend.port)];
  const error = await proxy.updateRoutes(update).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(error, PortInUseError, 'the update rejects with PortInUseError');
  t.match(error, { code: 'EADDRINUSE', port: takenPort, message: /another application/ });

  t.same(proxy.getListeningPorts(), [httpPort!, tcpPort!].sort((a, b) => a - b), 'nothing was applied');
  t.same(proxy.getRoutes().map((r) => r.name), ['web', 'tcp']);
  t.equal(await probeBind(freePort!), undefined, 'the port bound for the failed update was let go again');
  t.same(released.filter((p) => p !== freePort), [], 'no port in use was released');
  gate.shift()!();
  t.equal((await inFlight).body, 'slow done', 'the request in flight finished');
  const next = await get(httpPort!, '/', agent);
  t.equal(next.status, 200, 'HTTP keeps serving');
  t.equal(next.socket, warm.socket, 'on the keep-alive connection opened before the update');
  t.equal(await exchange(tcp, 'two', 3), 'two', 'the open TCP connection keeps flowing');
  const refused = await httpGet(freePort!, { host: 'new.test' }).then(
    (res) => `answered ${res.status}`,
    (e: NodeJS.ErrnoException) => e.code,
  );
  t.equal(refused, 'ECONNREFUSED', 'the new route was not applied');

  await holder.kill();
  await proxy.updateRoutes(update);
  t.same(proxy.getListeningPorts(), [httpPort!, tcpPort!, freePort!, takenPort!].sort((a, b) => a - b), 'once the other process is gone the same update applies');
  t.equal((await httpGet(takenPort!, { host: 'taken.test' })).status, 200);
  tcp.destroy();
});
