// The access log (issue 17): off by default; with `accessLog: { logger }`
// one record per HTTP request (time, client IP, route, method, host, path,
// status, bytes in and out, duration, upstream target, upstream time,
// protocol) on every engine, and one per TCP / passthrough connection
// (route, SNI, bytes, duration). `accessLog: true` with no logger of yours
// goes to stdout through pino's asynchronous destination.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startHttpBackend, startEchoBackend } from './helpers/backends.js';
import { captureClientHello, eventually, startHttpServer, startProxy } from './helpers/data-path.js';
import { fronts, startEdgeFronts } from './helpers/edge-fronts.js';
import { getFreePort } from './helpers/free-port.js';
import { h2Request, h2Session } from './helpers/h2-client.js';
import { createSelfSignedCertificate } from '../ts/index.js';

function capture() {
  const records: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.length > 0) records.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { records, logger: pino({ level: 'info' }, stream) };
}

t.test('one record per HTTP request with every field, on every engine', async (t) => {
  const backend = await startHttpBackend('b');
  t.teardown(() => backend.close());
  const log = capture();
  const edge = await startEdgeFronts(t, { target: { host: '127.0.0.1', port: backend.port } }, {}, { accessLog: { logger: log.logger } });
  for (const front of fronts) {
    const before = log.records.length;
    await edge.request(front, { path: '/x?y=1' });
    await edge.request(front, { method: 'POST', path: '/post', body: 'hello' });
    const port = front === 'tls' ? edge.tlsPort : edge.plainPort;
    t.ok(await eventually(() => log.records.slice(before).filter((r) => r.route === `app-${port}`).length >= 2, 3000));
    const mine = log.records.slice(before).filter((r) => r.route === `app-${port}`);
    t.equal(mine.length, 2, `${front}: one record per request`);
    const [get, post] = mine as [Record<string, unknown>, Record<string, unknown>];
    t.match(get, {
      msg: 'access',
      type: 'http',
      time: Number,
      clientIp: '127.0.0.1',
      route: `app-${port}`,
      method: 'GET',
      host: 'e.test',
      path: '/x',
      status: 200,
      bytesIn: Number,
      bytesOut: Number,
      durationMs: Number,
      upstream: `127.0.0.1:${backend.port}`,
      upstreamMs: Number,
      protocol: front === 'tls' ? 'https' : 'http',
    }, `${front}: the GET record`);
    t.ok((get.bytesOut as number) > 0 && (get.bytesIn as number) > 0, `${front}: bytes counted`);
    t.match(post, { method: 'POST', path: '/post', status: 200 }, `${front}: the POST record`);
  }
});

t.test('an HTTP/2 request is logged with its upstream target and time, like the other engines', async (t) => {
  // The forwarder notes the upstream against the client socket the request was begun on: the
  // session's TLS socket, not Node's Proxy of it (session.socket), which no WeakMap knows.
  const backend = await startHttpBackend('b');
  t.teardown(() => backend.close());
  const log = capture();
  const port = await getFreePort();
  const certificate = createSelfSignedCertificate({ domains: ['h.test'] });
  await startProxy(t, [{ name: 'h2', match: { ports: port, domains: 'h.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port }, tls: { mode: 'terminate', certificate } } }], { accessLog: { logger: log.logger } });
  const session = await h2Session(t, port, 'h.test');
  const res = await h2Request(session, { ':path': '/h2', ':authority': 'h.test' });
  t.equal(res.status, 200);
  t.ok(await eventually(() => log.records.some((r) => r.route === 'h2'), 3000));
  t.match(log.records.find((r) => r.route === 'h2'), { type: 'http', method: 'GET', path: '/h2', status: 200, protocol: 'h2', upstream: `127.0.0.1:${backend.port}`, upstreamMs: Number });
  t.notOk(log.records.some((r) => r.type === 'tcp'), 'no stray connection record for the session');
});

t.test('concurrent HTTP/2 streams on one session each get their own record', async (t) => {
  // Requests on one session share its socket: a record kept per socket was overwritten by the next stream.
  const slow = await startHttpServer(t, (_req, res) => void setTimeout(() => res.end('slow'), 300));
  const fast = await startHttpServer(t, (_req, res) => res.end('fast'));
  const log = capture();
  const port = await getFreePort();
  const certificate = createSelfSignedCertificate({ domains: ['a.test', 'b.test'] });
  const route = (name: string, domain: string, target: number) => ({ name, match: { ports: port, domains: domain }, action: { type: 'forward' as const, target: { host: '127.0.0.1', port: target }, tls: { mode: 'terminate' as const, certificate } } });
  await startProxy(t, [route('slow', 'a.test', slow.port), route('fast', 'b.test', fast.port)], { accessLog: { logger: log.logger } });
  const session = await h2Session(t, port, 'a.test');
  const [a, b] = await Promise.all([h2Request(session, { ':path': '/first', ':authority': 'a.test' }), h2Request(session, { ':path': '/second', ':authority': 'b.test' })]);
  t.equal(a.status, 200);
  t.equal(b.status, 200);
  t.ok(await eventually(() => log.records.filter((r) => r.type === 'http').length === 2, 3000));
  t.match(log.records.find((r) => r.route === 'slow'), { host: 'a.test', path: '/first', protocol: 'h2', upstream: `127.0.0.1:${slow.port}`, upstreamMs: Number });
  t.match(log.records.find((r) => r.route === 'fast'), { host: 'b.test', path: '/second', protocol: 'h2', upstream: `127.0.0.1:${fast.port}`, upstreamMs: Number });
});

t.test('one record per TCP and passthrough connection: route, SNI, bytes, duration', async (t) => {
  const echo = await startEchoBackend('echo');
  t.teardown(() => echo.close());
  const log = capture();
  const tcpPort = await getFreePort();
  const tlsPort = await getFreePort();
  await startProxy(
    t,
    [
      { name: 'tcp', match: { ports: tcpPort }, action: { type: 'forward', target: { host: '127.0.0.1', port: echo.port } } },
      { name: 'pass', match: { ports: tlsPort, domains: 'p.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: echo.port }, tls: { mode: 'passthrough' } } },
    ],
    { accessLog: { logger: log.logger } },
  );
  const socket = net.connect(tcpPort, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('12345');
  await once(socket, 'data');
  socket.end();
  await once(socket, 'close');
  const hello = await captureClientHello('p.test');
  const pass = net.connect(tlsPort, '127.0.0.1');
  await once(pass, 'connect');
  pass.write(hello);
  await once(pass, 'data');
  pass.destroy();
  t.ok(await eventually(() => log.records.length >= 2, 3000));
  t.match(log.records.find((r) => r.route === 'tcp'), { type: 'tcp', clientIp: '127.0.0.1', bytesIn: 5, bytesOut: Number, durationMs: Number, upstream: `127.0.0.1:${echo.port}` });
  t.match(log.records.find((r) => r.route === 'pass'), { type: 'tcp', sni: 'p.test', bytesIn: hello.length, upstream: `127.0.0.1:${echo.port}` });
  t.equal(log.records.length, 2, 'one record each');
});

t.test('off by default; accessLog: true writes JSON lines to stdout asynchronously', async (t) => {
  const backend = await startHttpBackend('b');
  t.teardown(() => backend.close());
  const script = `
    const { SmartProxy } = await import(${JSON.stringify(new URL('../ts/index.ts', import.meta.url).href)});
    const http = await import('node:http');
    const proxy = new SmartProxy({ host: '127.0.0.1', logLevel: 'silent', accessLog: true, routes: [{ name: 'r', match: { ports: ${await getFreePort()}, domains: 'x.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: ${backend.port} } } }] });
    await proxy.start();
    const port = proxy.getListeningPorts()[0];
    for (let i = 0; i < 3; i++) await new Promise((resolve) => http.get({ host: '127.0.0.1', port, agent: false, path: '/n' + i, headers: { host: 'x.test' } }, (res) => res.resume().on('end', resolve)));
    await proxy.stop();
  `;
  const dir = await mkdtemp(join(tmpdir(), 'access-log-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'run.mts'), script);
  const child = spawn(process.execPath, ['--import', 'tsx', join(dir, 'run.mts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await once(child, 'close');
  const lines = out.split('\n').filter((l) => l.includes('"msg":"access"'));
  t.equal(lines.length, 3, 'three records, flushed by stop()');
  t.match(JSON.parse(lines[0]!), { route: 'r', path: '/n0', status: 200 });

  const log = capture();
  const edge = await startEdgeFronts(t, { target: { host: '127.0.0.1', port: backend.port } }, {}, { logger: log.logger });
  await edge.request('fast');
  t.equal(log.records.filter((r) => r.msg === 'access').length, 0, 'no record without accessLog');
});
