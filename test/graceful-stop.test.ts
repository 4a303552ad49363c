// stop({ drainTimeoutMs }): stops accepting at once, lets requests in
// flight finish, closes idle keep-alive connections at once and the rest at
// the deadline. When it resolves no socket, listener or timer of the proxy
// is left (the process handle list says so) and every port is free again.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { once } from 'node:events';
import { ProxyStateError, SmartProxy, createSelfSignedCertificate, type IRouteConfig } from '../ts/index.js';
import { httpGet, silentLogger } from './helpers/backends.js';
import { closed, delay, eventually, exchange, rawConnect, serve, startHttpServer, tlsConnect, trackSockets } from './helpers/data-path.js';
import { probeBind, quietPorts } from './helpers/port-probe.js';

const cert = createSelfSignedCertificate({ domains: ['a.test'] });

const handleKinds = ['TCPServerWrap', 'TCPSocketWrap', 'Timeout'] as const;
type HandleCounts = Record<(typeof handleKinds)[number], number>;

/** Listeners, sockets and timers of the whole process. */
function handleCounts(): HandleCounts {
  const counts: HandleCounts = { TCPServerWrap: 0, TCPSocketWrap: 0, Timeout: 0 };
  for (const name of process.getActiveResourcesInfo()) if (name in counts) counts[name as keyof HandleCounts]++;
  return counts;
}

const same = (a: HandleCounts, b: HandleCounts) => handleKinds.every((kind) => a[kind] === b[kind]);

/** The previous test's servers close in its teardown, which may still be finishing: start from a clean slate. */
async function settled(): Promise<void> {
  await eventually(() => same(handleCounts(), { TCPServerWrap: 0, TCPSocketWrap: 0, Timeout: 0 }));
}

function forward(name: string, port: number, domains: string | undefined, target: number, tls?: IRouteConfig['action']['tls']): IRouteConfig {
  return { name, match: { ports: port, ...(domains ? { domains } : {}) }, action: { type: 'forward', target: { host: '127.0.0.1', port: target }, ...(tls ? { tls } : {}) } };
}

async function newProxy(routes: IRouteConfig[]): Promise<SmartProxy> {
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), routes });
  await proxy.start();
  return proxy;
}

/** Resolves with the error code of a connection attempt, or 'connected'. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

t.test('stop() refuses new connections at once, finishes the request in flight and closes idle keep-alive connections at once', async (t) => {
  await settled();
  let idleGone: Promise<unknown> = Promise.resolve();
  const order: string[] = [];
  let slowArrived = false;
  const backend = await startHttpServer(t, (req, res) => {
    if (req.url !== '/slow') return void res.end('quick');
    slowArrived = true;
    // Answers after 300 ms, and never before the idle connections are gone, so the order below is not left to timing.
    void Promise.all([delay(300), idleGone]).then(() => {
      order.push('backend answered');
      res.end('slow done');
    });
  });
  const before = handleCounts();
  const [port, tlsPort] = await quietPorts(2);
  const proxy = await newProxy([forward('a', port!, '*', backend.port), forward('s', tlsPort!, 'a.test', backend.port, { mode: 'terminate', certificate: cert })]);
  let stopped = false;
  t.teardown(() => (stopped ? undefined : proxy.stop({ drainTimeoutMs: 100 })));

  const idle = await rawConnect(port!);
  t.match(await exchange(idle, 'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n', 'quick'.length + 60), /quick$/);
  const idleTls = await tlsConnect(tlsPort!, { servername: 'a.test' });
  t.match(await exchange(idleTls, 'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n', 'quick'.length + 60), /quick$/);
  idleGone = Promise.all([closed(idle), closed(idleTls)]);
  void idleGone.then(() => order.push('idle closed'));
  const slow = httpGet(port!, { host: 'a.test', path: '/slow' });
  t.ok(await eventually(() => slowArrived), 'the slow request is in flight');

  const stopping = proxy.stop({ drainTimeoutMs: 2000 }).then(() => order.push('stop resolved'));
  t.ok(await eventually(() => proxy.getListeningPorts().length === 0), 'the listeners close at once');
  t.equal(await tryConnect(port!), 'ECONNREFUSED', 'a new connection is refused while draining');
  t.equal(await probeBind(port!), undefined, 'the port can be bound by someone else while the proxy drains');

  const res = await slow;
  t.equal(res.status, 200, 'the request in flight finished');
  t.equal(res.body, 'slow done');
  await stopping;
  stopped = true;
  t.same(order, ['idle closed', 'backend answered', 'stop resolved'], 'idle connections went first, stop() waited for the request in flight');
  t.ok(await eventually(() => same(handleCounts(), before)), 'no socket, listener or timer of the proxy remains', { before, after: handleCounts() });
  t.equal(await probeBind(port!), undefined, `port ${port} can be bound again`);
  t.equal(await probeBind(tlsPort!), undefined, `port ${tlsPort} can be bound again`);
});

t.test('at the deadline stop() force-closes a request still running, and open TCP and WebSocket connections', async (t) => {
  await settled();
  const upstreamClosed: string[] = [];
  let arrived = 0;
  const backend = await startHttpServer(t, (req) => {
    arrived++;
    req.socket.once('close', () => upstreamClosed.push(req.url ?? ''));
    // never answers
  });
  const echo = await serve(t, trackSockets(net.createServer((socket) => socket.on('error', () => socket.destroy()).pipe(socket))));
  const wsServer = trackSockets(http.createServer());
  const wss = new WebSocketServer({ server: wsServer });
  wss.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));
  t.teardown(() => wss.close());
  const wsBackend = await serve(t, wsServer);

  const before = handleCounts();
  const [port, tcpPort] = await quietPorts(2);
  const proxy = await newProxy([forward('hang', port!, 'hang.test', backend.port), forward('ws', port!, 'ws.test', wsBackend.port), forward('tcp', tcpPort!, undefined, echo.port)]);
  let stopped = false;
  t.teardown(() => (stopped ? undefined : proxy.stop({ drainTimeoutMs: 100 })));

  const hanging = httpGet(port!, { host: 'hang.test', path: '/hang' }).then(
    (res) => `answered ${res.status}`,
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  );
  const tcp = await rawConnect(tcpPort!);
  t.equal(await exchange(tcp, 'ping', 4), 'ping');
  const tcpClosed = closed(tcp);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host: 'ws.test' } });
  ws.on('error', () => undefined);
  await once(ws, 'open');
  ws.send('hi');
  t.equal(String((await once(ws, 'message'))[0]), 'hi');
  const wsClosed = once(ws, 'close');
  t.ok(await eventually(() => arrived === 1), 'the request is running');

  const started = Date.now();
  await proxy.stop({ drainTimeoutMs: 300 });
  stopped = true;
  const elapsed = Date.now() - started;
  t.ok(elapsed >= 250, `stop() waited for the deadline (${elapsed} ms)`);
  t.comment(`stop() resolved after ${elapsed} ms with drainTimeoutMs 300`);
  t.equal(await hanging, 'ECONNRESET', 'the running request was cut off (socket hang up)');
  await tcpClosed;
  t.pass('the TCP connection was closed');
  await wsClosed;
  t.pass('the WebSocket connection was closed');
  t.ok(await eventually(() => upstreamClosed.includes('/hang')), 'the upstream request was closed too');
  t.ok(await eventually(() => same(handleCounts(), before)), 'no socket, listener or timer of the proxy remains', { before, after: handleCounts() });
  t.equal(await probeBind(port!), undefined, 'the port can be bound again at once');
  t.equal(await probeBind(tcpPort!), undefined);
});

t.test('stop() with nothing open resolves at once and leaves nothing behind; later calls are refused or no-ops', async (t) => {
  await settled();
  const backend = await startHttpServer(t, (_req, res) => res.end('ok'));
  const before = handleCounts();
  const [port] = await quietPorts(1);
  const proxy = await newProxy([forward('a', port!, 'a.test', backend.port)]);
  t.equal((await httpGet(port!, { host: 'a.test' })).status, 200);
  await proxy.stop({ drainTimeoutMs: 60_000 });
  t.ok(await eventually(() => same(handleCounts(), before)), 'no socket, listener or timer remains (no drain timer left waiting)', { before, after: handleCounts() });
  await t.rejects(proxy.updateRoutes([]), ProxyStateError, 'updateRoutes() after stop() is refused');
  await proxy.stop();
  t.pass('a second stop() resolves');
  t.equal(await probeBind(port!), undefined);
});
