import t from 'tap';
import http from 'node:http';
import { createSelfSignedCertificate, type IRouteConfig } from '../ts/index.js';
import { httpGet, startEchoBackend, startHttpBackend } from './helpers/backends.js';
import { closed, eventually, exchange, httpsGet, rawConnect, startHttpServer, startProxy, tlsConnect } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const cert = createSelfSignedCertificate({ domains: ['a.test'] });

function forward(name: string, port: number, domains: string | undefined, target: number): IRouteConfig {
  return { name, match: { ports: port, ...(domains ? { domains } : {}) }, action: { type: 'forward', target: { host: '127.0.0.1', port: target } } };
}

t.test('a keep-alive connection follows route updates from its next request on', async (t) => {
  const one = await startHttpBackend('one');
  const two = await startHttpBackend('two');
  t.teardown(async () => {
    await one.close();
    await two.close();
  });
  const port = await getFreePort();
  const proxy = await startProxy(t, [forward('a', port, 'a.test', one.port)]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  t.equal((await httpGet(port, { host: 'a.test', agent })).json().name, 'one');
  await proxy.updateRoutes([forward('a', port, 'a.test', two.port)]);
  t.equal((await httpGet(port, { host: 'a.test', agent })).json().name, 'two');
});

t.test('open TCP connections keep flowing when their route is replaced or their port released', async (t) => {
  const echo = await startEchoBackend('echo');
  t.teardown(() => echo.close());
  const port = await getFreePort();
  const other = await getFreePort();
  const proxy = await startProxy(t, [forward('tcp', port, undefined, echo.port)]);
  const socket = await rawConnect(port);
  t.equal(await exchange(socket, 'a', 6), 'echo:a');
  await proxy.updateRoutes([forward('moved', other, undefined, echo.port)]);
  t.same(proxy.getListeningPorts(), [other], 'the old port is released');
  t.equal(await exchange(socket, 'b', 1), 'b', 'the open connection still flows');
  const refused = await rawConnect(port).then(
    (s) => (s.destroy(), 'connected'),
    () => 'refused',
  );
  t.equal(refused, 'refused', 'new connections to the released port are refused');
  socket.destroy();
});

t.test('stop() lets an in-flight request finish and closes idle keep-alive connections at once', async (t) => {
  let release: (() => void) | undefined;
  const backend = await startHttpServer(t, (req, res) => {
    if (req.url === '/slow') release = () => res.end('finished');
    else res.end('quick');
  });
  const port = await getFreePort();
  const proxy = await startProxy(t, [forward('a', port, '*', backend.port)]);
  const idle = await rawConnect(port);
  const idleClosed = closed(idle);
  idle.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
  const slow = httpGet(port, { host: 'a.test', path: '/slow' });
  t.ok(await eventually(() => release !== undefined));
  const stopped = proxy.stop({ drainTimeoutMs: 5000 });
  t.match(await idleClosed, /quick$/, 'the idle connection got its answer and was closed');
  release!();
  t.equal((await slow).body, 'finished', 'the in-flight request completed');
  await stopped;
  t.same(proxy.getListeningPorts(), []);
});

t.test('stop() closes idle keep-alive connections on terminated TLS at once too', async (t) => {
  let release: (() => void) | undefined;
  const backend = await startHttpServer(t, (req, res) => {
    if (req.url === '/slow') release = () => res.end('finished');
    else res.end('quick');
  });
  const port = await getFreePort();
  const proxy = await startProxy(t, [
    { name: 'a', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port }, tls: { mode: 'terminate', certificate: cert } } },
  ]);
  const idle = await tlsConnect(port, { servername: 'a.test' });
  const idleClosed = closed(idle);
  idle.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
  const slow = httpsGet(port, { servername: 'a.test', path: '/slow' });
  t.ok(await eventually(() => release !== undefined));
  const stopped = proxy.stop({ drainTimeoutMs: 60_000 });
  t.match(await idleClosed, /quick$/, 'the idle TLS connection got its answer and was closed while a request is in flight');
  release!();
  t.equal((await slow).body, 'finished');
  await stopped;
});
