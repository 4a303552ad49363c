import t from 'tap';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { InvalidOptionError, SmartProxy } from '../ts/index.js';
import { httpGet, startEchoBackend, startHttpBackend } from './helpers/backends.js';
import { closed, eventually, rawConnect, startProxy } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const forward = (name: string, port: number, backendPort: number, http = true) => ({
  name,
  match: { ports: port, ...(http ? { domains: '*' } : {}) },
  action: { type: 'forward' as const, target: { host: '127.0.0.1', port: backendPort } },
});

/** A pino logger whose lines the test can read. */
function capturingLogger(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), lines: () => lines };
}

t.test('global maxConnections: extra connections are closed at once, and logged once per burst', async (t) => {
  const echo = await startEchoBackend('echo');
  t.teardown(() => echo.close());
  const port = await getFreePort();
  const { logger, lines } = capturingLogger();
  const proxy = await startProxy(t, [forward('tcp', port, echo.port, false)], { logger, limits: { maxConnections: 2 } });
  const held = [await rawConnect(port), await rawConnect(port)];
  t.teardown(() => held.forEach((s) => s.destroy()));
  await eventually(() => proxy.getMetrics().activeConnections === 2);
  const refused = await Promise.all([1, 2, 3, 4, 5].map(async () => closed(await rawConnect(port))));
  t.same(refused, ['', '', '', '', ''], 'connections beyond the limit are closed without data');
  t.equal(proxy.getMetrics().limitHits.maxConnections, 5, 'every refusal counted');
  t.equal(lines().filter((l) => l.limit === 'maxConnections').length, 1, 'one log line for the burst');
});

t.test('per-IP concurrent connections and connection rate', async (t) => {
  const backend = await startHttpBackend('b');
  t.teardown(() => backend.close());
  const port = await getFreePort();
  const proxy = await startProxy(t, [forward('http', port, backend.port)], { limits: { maxConnectionsPerIp: 2 } });
  const held = [await rawConnect(port), await rawConnect(port)];
  t.equal(await closed(await rawConnect(port)), '', 'third connection from the same IP refused');
  held.forEach((s) => s.destroy());
  await eventually(() => proxy.getMetrics().activeConnections === 0);
  t.equal((await httpGet(port, { host: 'a.test' })).status, 200, 'admitted again once the others closed');

  const ratePort = await getFreePort();
  const rated = await startProxy(t, [forward('http', ratePort, backend.port)], { limits: { connectionRatePerIp: 5 } });
  const results = await Promise.allSettled(Array.from({ length: 12 }, () => httpGet(ratePort, { host: 'a.test' })));
  const ok = results.filter((r) => r.status === 'fulfilled' && r.value.status === 200).length;
  t.ok(ok >= 5 && ok < 12, `a burst of 12 connections: ${ok} admitted at 5 per second`);
  t.ok((rated.getMetrics().limitHits.connectionRatePerIp ?? 0) >= 12 - ok, 'refusals counted');
});

t.test('maxHeaderBytes: an oversized request head gets 431', async (t) => {
  const backend = await startHttpBackend('b');
  t.teardown(() => backend.close());
  const port = await getFreePort();
  const proxy = await startProxy(t, [forward('http', port, backend.port)], { limits: { maxHeaderBytes: 1024 } });
  const socket = await rawConnect(port);
  socket.write(`GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: ${'x'.repeat(4000)}\r\n\r\n`);
  t.match(await closed(socket), /^HTTP\/1\.1 431/);
  t.equal(proxy.getMetrics().limitHits.maxHeaderBytes, 1);
  t.equal((await httpGet(port, { host: 'a.test' })).status, 200);
});

t.test('maxLifetimeMs closes old connections; a route can override it', async (t) => {
  const echo = await startEchoBackend('echo');
  t.teardown(() => echo.close());
  const [globalPort, routePort] = [await getFreePort(), await getFreePort()];
  await startProxy(t, [forward('tcp', globalPort, echo.port, false), { ...forward('short', routePort, echo.port, false), timeouts: { maxLifetimeMs: 150 } }], {
    timeouts: { maxLifetimeMs: 400 },
  });
  const started = Date.now();
  const [a, b] = [await rawConnect(globalPort), await rawConnect(routePort)];
  const [aClosed, bClosed] = [closed(a).then(() => Date.now() - started), closed(b).then(() => Date.now() - started)];
  t.ok((await bClosed) < (await aClosed), 'the route override closes its connection first');
});

t.test('an idle WebSocket is closed after websocketIdleMs; a busy one stays', async (t) => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => wss.once('listening', resolve));
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
  t.teardown(() => new Promise((resolve) => wss.close(resolve)));
  const backendPort = (wss.address() as { port: number }).port;
  const port = await getFreePort();
  await startProxy(t, [{ ...forward('ws', port, backendPort), timeouts: { websocketIdleMs: 300 } }]);
  const open = (ws: WebSocket) => new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const idle = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host: 'a.test' } });
  const busy = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host: 'a.test' } });
  await Promise.all([open(idle), open(busy)]);
  const idleClosed = new Promise((resolve) => idle.once('close', resolve));
  const timer = setInterval(() => busy.send('ping'), 100);
  t.teardown(() => clearInterval(timer));
  await idleClosed;
  t.equal(busy.readyState, WebSocket.OPEN, 'the busy socket is still open after the idle one closed');
  clearInterval(timer);
  busy.close();
});

t.test('route timeouts override the proxy: upstreamResponseMs per route', async (t) => {
  const slow = await startHttpBackend('slow', (_req, res) => setTimeout(() => res.end('late'), 400));
  t.teardown(() => slow.close());
  const port = await getFreePort();
  await startProxy(t, [
    { ...forward('impatient', port, slow.port), match: { ports: port, domains: 'impatient.test' }, timeouts: { upstreamResponseMs: 100 } },
    { ...forward('patient', port, slow.port), match: { ports: port, domains: 'patient.test' } },
  ], { timeouts: { upstreamResponseMs: 5000 } });
  t.equal((await httpGet(port, { host: 'impatient.test' })).status, 504);
  t.equal((await httpGet(port, { host: 'patient.test' })).status, 200);
});

t.test('invalid limits and timeouts are rejected with the option named', async (t) => {
  t.throws(() => new SmartProxy({ routes: [], limits: { maxConnections: 0 } }), InvalidOptionError);
  t.throws(() => new SmartProxy({ routes: [], timeouts: { headersMs: -1 } }), /timeouts\.headersMs/);
  t.throws(() => new SmartProxy({ routes: [], limits: { nope: 1 } as never }), /limits\.nope/);
});
