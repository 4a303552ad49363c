// Metrics that follow the traffic as it flows: a download, a tunnel and a
// request in flight show in getMetrics() while they run, on every HTTP
// engine; the proxy's own answers are counted per port and status.
import t from 'tap';
import net from 'node:net';
import { eventually, serve, startHttpServer, trackSockets } from './helpers/data-path.js';
import { fronts, startThreeFronts, collect } from './helpers/three-fronts.js';
import { startProxy } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const megabyte = Buffer.alloc(1 << 20, 'x');

for (const front of fronts) {
  t.test(`${front}: a response still streaming is counted in bytes, and its request in flight`, async (t) => {
    let finish: () => void = () => undefined;
    const upstream = await startHttpServer(t, (_req, res) => {
      res.writeHead(200, { 'content-length': megabyte.length * 2 });
      res.write(megabyte);
      finish = () => res.end(megabyte);
    });
    const proxy = await startThreeFronts(t, upstream.port);
    const port = front === 'tls' ? proxy.tlsPort : proxy.plainPort;
    const route = `app-${port}`;
    const socket = await proxy.connect(front);
    const reply = collect(socket, 2000);
    socket.write('GET /big HTTP/1.1\r\nHost: p.test\r\n\r\n');
    t.ok(
      await eventually(() => {
        const metrics = proxy.proxy.getMetrics();
        return metrics.ports[port]!.bytesOut >= megabyte.length && (metrics.routes[route]?.bytesOut ?? 0) >= megabyte.length;
      }),
      'the first megabyte is counted on the port and the route while the response runs',
    );
    t.equal(proxy.proxy.getMetrics().routes[route]!.activeConnections, 1, 'the request in flight holds one of the route\'s connections');
    finish();
    await reply;
    t.ok(await eventually(() => proxy.proxy.getMetrics().routes[route]!.activeConnections === 0), 'and gives it back when it ends');
    t.ok(proxy.proxy.getMetrics().routes[route]!.bytesOut >= 2 * megabyte.length);
  });

  t.test(`${front}: requests the proxy answers itself are counted per port and status`, async (t) => {
    const upstream = await startHttpServer(t, (_req, res) => res.end('ok'));
    const proxy = await startThreeFronts(t, upstream.port);
    const port = front === 'tls' ? proxy.tlsPort : proxy.plainPort;
    await proxy.send(front, 'GET / HTTP/1.1\r\n\r\n', 200);
    await proxy.send(front, 'GET / HTTP/1.1\r\nHost: p.test\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx', 200);
    const answered = proxy.proxy.getMetrics().ports[port]!.answeredByProxy;
    t.equal(answered['400'], 2, `two 400s: ${JSON.stringify(answered)}`);
  });
}

t.test('a TCP tunnel is counted in bytes while it is open', async (t) => {
  const echo = await serve(t, trackSockets(net.createServer((socket) => socket.on('error', () => socket.destroy()).pipe(socket))));
  const port = await getFreePort();
  const proxy = await startProxy(t, [{ name: 'tunnel', match: { ports: port }, action: { type: 'forward', target: { host: '127.0.0.1', port: echo.port } } }]);
  const client = net.connect({ host: '127.0.0.1', port });
  client.on('error', () => undefined);
  t.teardown(() => client.destroy());
  let echoed = 0;
  client.on('data', (chunk: Buffer) => (echoed += chunk.length));
  client.write(megabyte);
  t.ok(await eventually(() => echoed === megabyte.length), 'echoed back');
  const metrics = proxy.getMetrics();
  t.ok(metrics.routes.tunnel!.bytesIn >= megabyte.length && metrics.routes.tunnel!.bytesOut >= megabyte.length, 'route bytes while the tunnel is open');
  t.ok(metrics.ports[port]!.bytesIn >= megabyte.length, 'port bytes too');
  t.equal(metrics.routes.tunnel!.activeConnections, 1);
});
