// The one upstream pool's idle rules (ts/proxy/upstream/pool.ts): the most
// recently returned socket is reused first, at most maxIdlePerTarget are kept,
// and a socket idle past idleMs is never handed out and is closed by the sweep.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { UpstreamPool } from '../ts/proxy/upstream/pool.js';
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
