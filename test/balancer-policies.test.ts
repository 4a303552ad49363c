// Load balancing policies and active health checks (issue 17):
// least-connections steers new requests away from a target holding slow
// ones; ip-hash keeps each client IP on one target (and consistent hashing
// moves few clients when a target is added); a target failing its health
// check gets no traffic and gets it back once it recovers; health checks
// stop with the route and with the proxy.
import t from 'tap';
import http from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startHttpBackend, type HttpResult } from './helpers/backends.js';
import { delay, eventually, startHttpServer, startProxy } from './helpers/data-path.js';
import { startEdgeFronts } from './helpers/edge-fronts.js';
import { getFreePort } from './helpers/free-port.js';
import { HashRing } from '../ts/proxy/balancer/policies.js';
import { upstreamsOf } from '../ts/proxy/balancer/upstream.js';

const backendOf = (res: HttpResult) => res.headers['x-backend'];

t.test('least-connections sends new requests away from a target holding slow ones', async (t) => {
  const held: http.ServerResponse[] = [];
  // Target A holds /slow requests until the end of the test; B answers everything at once.
  const slow = await startHttpServer(t, (req, res) => {
    if (req.url === '/slow') return void held.push(res);
    res.writeHead(200, { 'x-backend': 'A' }).end('A');
  });
  t.teardown(() => held.forEach((res) => res.destroy()));
  const fast = await startHttpBackend('B');
  t.teardown(() => fast.close());
  const edge = await startEdgeFronts(t, { target: [{ host: '127.0.0.1', port: slow.port }, { host: '127.0.0.1', port: fast.port }], loadBalancing: { policy: 'least-connections' } });
  // Slow requests until A holds two of them (the ones B gets come back at once).
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < 8 && held.length < 2; i++) {
    // Cut off at teardown: that rejection is expected.
    pending.push(edge.request('fast', { path: '/slow' }).catch(() => undefined));
    await eventually(() => held.length > 0 || pending.length > 1, 1000);
    await delay(20);
  }
  t.ok(held.length >= 1, 'A holds slow requests');
  const served: unknown[] = [];
  for (let i = 0; i < 10; i++) served.push(backendOf(await edge.request('fast')));
  t.same(served, Array(10).fill('B'), 'every new request went to the target with fewer in flight');
  const metrics = edge.proxy.getMetrics().upstreams[`app-${edge.plainPort}`]!;
  t.equal(metrics[0]!.activeConnections, held.length, 'metrics count the slow requests in flight on A');
});

t.test('ip-hash keeps each client IP on one target', async (t) => {
  const backends = await Promise.all(['A', 'B', 'C'].map((name) => startHttpBackend(name)));
  t.teardown(() => Promise.all(backends.map((b) => b.close())));
  const port = await getFreePort();
  await startProxy(t, [
    {
      name: 'hash',
      match: { ports: port, domains: 'h.test' },
      action: { type: 'forward', target: backends.map((b) => ({ host: '127.0.0.1', port: b.port })), loadBalancing: { policy: 'ip-hash' } },
    },
  ]);
  const seen = new Map<string, Set<string>>();
  for (let round = 0; round < 4; round++) {
    for (let last = 2; last <= 9; last++) {
      const localAddress = `127.0.0.${last}`;
      const res = await requestFrom(port, localAddress);
      t.equal(res.status, 200);
      const set = seen.get(localAddress) ?? new Set();
      set.add(String(backendOf(res)));
      seen.set(localAddress, set);
    }
  }
  t.same(
    [...seen.values()].map((s) => s.size),
    Array(8).fill(1),
    'each of 8 client IPs was served by one target every time',
  );
  t.ok(new Set([...seen.values()].map((s) => [...s][0])).size > 1, 'the clients are spread over more than one target');
});

t.test('consistent hashing: adding a target to three moves about a quarter of the clients', async (t) => {
  const three = upstreamsOf({ type: 'forward', target: [1, 2, 3].map((i) => ({ host: `10.0.0.${i}`, port: 80 })) });
  const four = upstreamsOf({ type: 'forward', target: [1, 2, 3, 4].map((i) => ({ host: `10.0.0.${i}`, port: 80 })) });
  const before = new HashRing(three);
  const after = new HashRing(four);
  let moved = 0;
  const clients = 4000;
  for (let i = 0; i < clients; i++) {
    const ip = `198.51.${i >> 8}.${i & 255}`;
    if (before.pick(ip, () => true)!.key !== after.pick(ip, () => true)!.key) moved++;
  }
  t.ok(moved / clients < 0.4, `moved ${((100 * moved) / clients).toFixed(1)}% (ideal 25%, a modulo hash moves 75%)`);
  t.ok(moved > 0, 'the new target takes some clients');
});

t.test('a target failing its health check gets no traffic, and gets it again once it recovers', async (t) => {
  let healthy = true;
  const a = await startHttpServer(t, (req, res) => {
    if (req.url === '/health') return void res.writeHead(healthy ? 200 : 500).end();
    res.writeHead(200, { 'x-backend': 'A' }).end('A');
  });
  const b = await startHttpBackend('B');
  t.teardown(() => b.close());
  const intervalMs = 100;
  const unhealthyThreshold = 2;
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _e, done) => void (lines.push(chunk.toString()), done()) }));
  const edge = await startEdgeFronts(
    t,
    {
      target: [{ host: '127.0.0.1', port: a.port }, { host: '127.0.0.1', port: b.port }],
      loadBalancing: { healthCheck: { path: '/health', intervalMs, timeoutMs: 500, unhealthyThreshold, healthyThreshold: 1 } },
    },
    {},
    { logger },
  );
  const route = `app-${edge.plainPort}`;
  const targetA = () => edge.proxy.getMetrics().upstreams[route]![0]!;
  const spread = async () => new Set(await Promise.all(Array.from({ length: 8 }, async () => backendOf(await edge.request('fast')))));
  t.same([...(await spread())].sort(), ['A', 'B'], 'both targets serve while healthy');

  healthy = false;
  // Within intervalMs × unhealthyThreshold (plus a margin for a slow machine) A is out.
  t.ok(await eventually(() => !targetA().healthy, intervalMs * unhealthyThreshold + 3000), 'metrics show A unhealthy');
  t.same([...(await spread())], ['B'], 'no request reaches A while it is unhealthy');

  healthy = true;
  t.ok(await eventually(() => targetA().healthy, 5000), 'metrics show A healthy again');
  t.same([...(await spread())].sort(), ['A', 'B'], 'A gets traffic again');
  const changes = lines.filter((l) => l.includes(`127.0.0.1:${a.port}`) && l.includes('"route":"app-'));
  t.match(changes.join(''), /failed its health checks[^]*healthy again/, 'both changes are logged, with route and target');
});

t.test('health checks stop when the route is removed and when the proxy stops', async (t) => {
  let checks = 0;
  const backend = await startHttpServer(t, (req, res) => {
    if (req.url === '/health') checks++;
    res.writeHead(200).end();
  });
  const port = await getFreePort();
  const route = (name: string) => ({
    name,
    match: { ports: port, domains: 'c.test' },
    action: { type: 'forward' as const, target: { host: '127.0.0.1', port: backend.port }, loadBalancing: { healthCheck: { path: '/health', intervalMs: 50 } } },
  });
  const proxy = await startProxy(t, [route('one')]);
  t.ok(await eventually(() => checks >= 2, 3000), 'checks run');
  await proxy.updateRoutes([{ name: 'other', match: { ports: port, domains: 'x.test' }, action: { type: 'static', static: { body: 'x' } } }]);
  await delay(100);
  const afterRemoval = checks;
  await delay(300);
  t.equal(checks, afterRemoval, 'no check after the route was removed');
  await proxy.updateRoutes([route('two')]);
  t.ok(await eventually(() => checks > afterRemoval, 3000), 'a new route checks again');
  await proxy.stop();
  await delay(100);
  const afterStop = checks;
  await delay(300);
  t.equal(checks, afterStop, 'no check after stop()');
  const timers = (process.getActiveResourcesInfo() as string[]).filter((r) => r === 'Timeout').length;
  t.ok(timers < 20, `no health check timers left (${timers} timers of any kind)`);
});

function requestFrom(port: number, localAddress: string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, localAddress, agent: false, headers: { host: 'h.test' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) }));
    });
    req.on('error', reject);
    req.end();
  });
}
