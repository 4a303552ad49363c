// Passive failover (issue 17): a target that refuses is skipped for the
// request and the next one tried, on every HTTP engine and for TCP; an
// idempotent request reset before any response byte is retried once on
// another target, a POST is not; with every target down HTTP gets 503 with
// Retry-After and TCP is closed.
import t from 'tap';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { startEchoBackend, startHttpBackend, tcpExchange } from './helpers/backends.js';
import { startProxy, startHttpServer, type Teardown } from './helpers/data-path.js';
import { fronts, startEdgeFronts } from './helpers/edge-fronts.js';
import { getFreePort } from './helpers/free-port.js';

t.test('two targets, one refusing: 100 requests on each engine (GET and POST) and 50 TCP connections, 0 failures', async (t) => {
  const good = await startHttpBackend('good');
  t.teardown(() => good.close());
  const dead = await getFreePort();
  const edge = await startEdgeFronts(t, { target: [{ host: '127.0.0.1', port: dead }, { host: '127.0.0.1', port: good.port }] });
  for (const front of fronts) {
    const failures: string[] = [];
    for (let i = 0; i < 100; i++) {
      const post = i % 4 === 0;
      const res = await edge.request(front, post ? { method: 'POST', path: `/p${i}`, body: `body-${i}`, headers: { 'content-type': 'text/plain' } } : { path: `/g${i}` });
      if (res.status !== 200) failures.push(`${i}: ${res.status}`);
      else if (post && res.json<{ body: string }>().body !== `body-${i}`) failures.push(`${i}: body ${res.body}`);
    }
    t.same(failures, [], `${front}: every request served by the live target, POST bodies intact`);
  }
  const metrics = edge.proxy.getMetrics().upstreams[`app-${edge.plainPort}`]!;
  t.ok(metrics.find((m) => m.target === `127.0.0.1:${dead}`)!.failures >= 1, 'the refusing target is counted as failing');

  const echo = await startEchoBackend('echo');
  t.teardown(() => echo.close());
  const tcpPort = await getFreePort();
  await startProxy(t, [{ name: 'tcp', match: { ports: tcpPort }, action: { type: 'forward', target: [{ host: '127.0.0.1', port: dead }, { host: '127.0.0.1', port: echo.port }] } }]);
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => tcpExchange(tcpPort, `hello-${i}`, 300)));
  t.same(
    replies.filter((reply, i) => reply !== `echo:hello-${i}`),
    [],
    '50 TCP connections all reach the live target',
  );
});

t.test('every target down: HTTP 503 with Retry-After on each engine, TCP closed', async (t) => {
  const deadA = await getFreePort();
  const deadB = await getFreePort();
  const edge = await startEdgeFronts(t, { target: { host: ['127.0.0.1', '127.0.0.1'], port: deadA } });
  for (const front of fronts) {
    const res = await edge.request(front);
    t.equal(res.status, 503, `${front}: 503`);
    t.match(res.headers['retry-after'], /^\d+$/, `${front}: Retry-After`);
  }
  const tcpPort = await getFreePort();
  await startProxy(t, [{ name: 'tcp', match: { ports: tcpPort }, action: { type: 'forward', target: [{ host: '127.0.0.1', port: deadA }, { host: '127.0.0.1', port: deadB }] } }]);
  t.equal(await tcpExchange(tcpPort, 'x', 2000), '', 'TCP: closed without a byte');
});

t.test('a reset before any response byte: GET retried once on another target, POST not', async (t) => {
  const good = await startHttpBackend('good');
  t.teardown(() => good.close());
  let resets = 0;
  // Accepts, reads the request, then resets: the upstream connection dies before any response byte.
  const resetter = await startHttpServer(t, (req) => {
    resets++;
    req.socket.resetAndDestroy();
  });
  const edge = await startEdgeFronts(t, { target: [{ host: '127.0.0.1', port: resetter.port }, { host: '127.0.0.1', port: good.port }] });
  for (const front of fronts) {
    const gets = await Promise.all([0, 1, 2, 3].map(() => edge.request(front)));
    t.same(
      gets.map((r) => r.status),
      [200, 200, 200, 200],
      `${front}: GETs that met the resetting target were retried on the other one`,
    );
  }
  t.ok(resets > 0, 'the resetting target was tried');
  // A fresh proxy, so the resetter is not ejected: POSTs that meet it fail rather than being sent twice.
  const edge2 = await startEdgeFronts(t, { target: [{ host: '127.0.0.1', port: resetter.port }, { host: '127.0.0.1', port: good.port }] });
  const before = resets;
  const statuses = [];
  for (let i = 0; i < 2; i++) statuses.push((await edge2.request('fast', { method: 'POST', body: 'x' })).status);
  t.equal(resets, before + 1, 'one POST reached the resetting target, once');
  t.same(statuses.sort(), [200, 502], 'that POST is answered 502, not replayed');
});

t.test('a large POST body read before the connect failed is replayed whole to the next target', async (t) => {
  const good = await startHttpBackend('good');
  t.teardown(() => good.close());
  const dead = await getFreePort();
  const edge = await startEdgeFronts(t, { target: [{ host: '127.0.0.1', port: dead }, { host: '127.0.0.1', port: good.port }] });
  const body = 'x'.repeat(1024 * 1024);
  for (const front of fronts) {
    for (let i = 0; i < 2; i++) {
      const res = await edge.request(front, { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
      t.equal(res.status, 200, `${front} #${i}: 200`);
      t.equal(res.json<{ body: string }>().body.length, body.length, `${front} #${i}: the whole body arrived`);
    }
  }
});

/**
 * A target that never accepts: a child process listens with a backlog of 1
 * and then blocks its event loop (Atomics.wait, no CPU spent); once two
 * connections fill the queue, the kernel drops further SYNs and a connect
 * just hangs, as behind a black-holing firewall.
 */
async function startBlackHole(t: Teardown): Promise<number> {
  const script = `const s = require('net').createServer(); s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => { console.log(s.address().port); setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0), 20); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  await new Promise((resolve) => setTimeout(resolve, 100));
  const fillers = [0, 1].map(() => net.connect(port, '127.0.0.1').on('error', () => undefined));
  t.teardown(() => fillers.forEach((s) => s.destroy()));
  await Promise.all(fillers.map((s) => once(s, 'connect')));
  return port;
}

t.test('a target that does not accept within upstreamConnectMs is skipped, on every engine and for TCP', async (t) => {
  const good = await startHttpBackend('good');
  t.teardown(() => good.close());
  const hole = await startBlackHole(t);
  const timeouts = { upstreamConnectMs: 300 };
  const edge = await startEdgeFronts(t, { target: [{ host: '127.0.0.1', port: hole }, { host: '127.0.0.1', port: good.port }] }, {}, { timeouts });
  for (const front of fronts) {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await edge.request(front, i === 1 ? { method: 'POST', body: 'b' } : {})).status);
    t.same(statuses, [200, 200, 200], `${front}: served by the other target`);
  }
  const echo = await startEchoBackend('echo');
  t.teardown(() => echo.close());
  const tcpPort = await getFreePort();
  await startProxy(t, [{ name: 'tcp', match: { ports: tcpPort }, action: { type: 'forward', target: [{ host: '127.0.0.1', port: hole }, { host: '127.0.0.1', port: echo.port }] } }], { timeouts });
  const replies = await Promise.all([0, 1, 2].map((i) => tcpExchange(tcpPort, `t${i}`, 2500)));
  t.same(replies, ['echo:t0', 'echo:t1', 'echo:t2'], 'TCP: the connect timeout moves on to the next target');
});
