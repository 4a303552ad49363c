// The one upstream pool's idle rules (ts/proxy/upstream/pool.ts): the most
// recently returned socket is reused first, at most maxIdlePerTarget are kept,
// and a socket idle past idleMs is never handed out and is closed by the sweep.
// And the pool key a plain target's exchanges use (ts/proxy/upstream/dest.ts).
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { UpstreamPool } from '../ts/proxy/upstream/pool.js';
import type { Route } from '../ts/routing/route.js';
import { delay, serve, type Teardown } from './helpers/data-path.js';

async function sockets(t: Teardown, count: number): Promise<net.Socket[]> {
  const server = await serve(t, net.createServer((s) => s.resume()));
  const out: net.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = net.connect(server.port, '127.0.0.1');
    await once(socket, 'connect');
    t.teardown(() => socket.destroy());
    out.push(socket);
  }
  return out;
}

function take(pool: UpstreamPool, key: string): net.Socket | undefined {
  let got: net.Socket | undefined;
  pool.acquire(key, (socket) => (got = socket));
  return got;
}

t.test('the last socket returned is the first reused; beyond maxIdlePerTarget sockets are closed', async (t) => {
  const pool = new UpstreamPool({ maxIdlePerTarget: 2, idleMs: 10_000, maxSocketsPerTarget: Infinity });
  t.teardown(() => pool.destroy());
  const [a, b, c] = await sockets(t, 3);
  pool.release('k', a);
  pool.release('k', b);
  pool.release('k', c);
  t.ok(c!.destroyed, 'a third idle socket is over the limit');
  t.equal(take(pool, 'k'), b);
  t.equal(take(pool, 'k'), a);
  t.equal(take(pool, 'k'), undefined, 'then the caller opens one');
});

t.test('a socket idle past idleMs is closed by the sweep and never handed out', async (t) => {
  const pool = new UpstreamPool({ maxIdlePerTarget: 8, idleMs: 200, maxSocketsPerTarget: Infinity });
  t.teardown(() => pool.destroy());
  const [a, b] = await sockets(t, 2);
  pool.release('k', a);
  await delay(100);
  pool.release('k', b);
  await delay(150);
  // a is past 200 ms, b is not: whether or not the sweep ran yet, a is not reused.
  t.equal(take(pool, 'k'), b, 'the fresh one is reused');
  pool.release('k', b);
  t.equal(take(pool, 'k'), b);
  pool.release('k', b);
  await delay(500);
  t.ok(a!.destroyed, 'the stale one was closed');
  t.ok(b!.destroyed, 'and the last one too once it went stale');
  t.equal(take(pool, 'k'), undefined);
});

t.test('exchangeDest: a plain target keeps one destination (one pool key) per port; preserve follows the incoming port', async (t) => {
  const { exchangeDest } = await import('../ts/proxy/upstream/dest.js');
  const { upstreamsOf } = await import('../ts/proxy/balancer/upstream.js');
  const route = { tlsMode: undefined } as unknown as Route;
  const client = new net.Socket();
  const [fixed] = upstreamsOf({ type: 'forward', target: { host: '127.0.0.1', port: 8080 } });
  const first = exchangeDest(route, fixed!, 80, 'a.test', client);
  t.same({ host: first.host, port: first.port, key: first.key }, { host: '127.0.0.1', port: 8080, key: '127.0.0.1:8080' });
  t.equal(exchangeDest(route, fixed!, 443, 'b.test', client), first, 'the same object for every request to the target');

  const [preserve] = upstreamsOf({ type: 'forward', target: { host: '127.0.0.1', port: 'preserve' } });
  const on80 = exchangeDest(route, preserve!, 80, 'a.test', client);
  const on81 = exchangeDest(route, preserve!, 81, 'a.test', client);
  t.same([on80.port, on80.key, on81.port, on81.key], [80, '127.0.0.1:80', 81, '127.0.0.1:81'], 'a preserved port is never served a destination kept for another');
  t.equal(exchangeDest(route, preserve!, 81, 'a.test', client).key, '127.0.0.1:81');
});
