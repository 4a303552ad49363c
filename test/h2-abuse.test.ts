// HTTP/2 abuse limits. Rapid reset (CVE-2023-44487): a client opening
// streams and cancelling them at once makes the proxy start and abort
// upstream requests as fast as it can send two frames; the session is
// closed by Envoy's rule (after 500 streams, more than half reset within a
// second) and upstream requests in flight never exceed the stream limit.
// CONTINUATION flood (CVE-2024-27983 family): a header block that never
// ends must end the session instead of growing in memory. Frames are
// crafted by hand: Node's client cannot misbehave on purpose.
import t from 'tap';
import http from 'node:http';
import http2 from 'node:http2';
import { createSelfSignedCertificate, type IRouteConfig } from '../ts/index.js';
import { delay, eventually, startHttpServer, startProxy } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';
import { h2Request, h2Session } from './helpers/h2-client.js';
import { connectRawH2, flag, frame, frameType, getRequest, headerBlock, rstStream } from './helpers/h2-frames.js';

const cert = createSelfSignedCertificate({ domains: ['a.test'] });
const ENHANCE_YOUR_CALM = 11;

/** An upstream that answers after `holdMs` and keeps count of requests open at once. */
async function startSlowUpstream(t: Parameters<typeof startHttpServer>[0], holdMs: number) {
  const stats = { active: 0, maxActive: 0, total: 0, closedAt: [] as number[] };
  const server = await startHttpServer(t, (req: http.IncomingMessage, res: http.ServerResponse) => {
    stats.total++;
    stats.active++;
    stats.maxActive = Math.max(stats.maxActive, stats.active);
    res.once('close', () => {
      stats.active--;
      stats.closedAt.push(performance.now());
    });
    req.resume();
    const timer = setTimeout(() => res.end(`done ${req.url}`), holdMs);
    res.once('close', () => clearTimeout(timer));
  });
  return Object.assign(server, { stats });
}

function route(port: number, target: number): IRouteConfig {
  return { name: 'a', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: target }, tls: { mode: 'terminate', certificate: cert } } };
}

t.test('rapid reset closes the session, bounds upstream load, and leaves other clients alone', async (t) => {
  const upstream = await startSlowUpstream(t, 2000);
  const port = await getFreePort();
  const proxy = await startProxy(t, [route(port, upstream.port)]);
  const bystander = await h2Session(t, port, 'a.test');
  const raw = await connectRawH2(port, 'a.test');
  let sent = 0;
  let closed = false;
  void raw.closed.then(() => (closed = true));
  // Thousands of open-then-cancel streams, sent in bursts as fast as the socket takes them.
  for (let id = 1; id < 2 * 5000 && !closed; id += 2) {
    raw.send(Buffer.concat([getRequest(id, 'a.test', `/r${id}`), rstStream(id)]));
    sent++;
    if (sent % 200 === 0) await delay(5);
  }
  t.ok(await eventually(() => closed, 10_000), 'the session was closed');
  t.equal(raw.goawayCode(), ENHANCE_YOUR_CALM, 'with GOAWAY ENHANCE_YOUR_CALM');
  t.ok(sent < 5000, `closed before the client had sent all its streams (${sent} sent)`);
  t.equal(proxy.getMetrics().limitHits['http2.rapidReset'], 1, 'counted in limitHits');
  t.ok(upstream.stats.maxActive <= 100, `upstream requests in flight stayed within the stream limit (max ${upstream.stats.maxActive})`);
  const answer = await h2Request(bystander, { ':path': '/fine', ':authority': 'a.test' });
  t.equal(answer.status, 200, "another client's session keeps working");
  t.equal(answer.body.toString(), 'done /fine');
});

t.test('cancelled streams never pile up upstream: each reset frees its upstream request', async (t) => {
  const upstream = await startSlowUpstream(t, 60_000);
  const port = await getFreePort();
  const limit = 10;
  await startProxy(t, [route(port, upstream.port)], { http2: { maxConcurrentStreams: limit } });
  const session = await h2Session(t, port, 'a.test');
  for (let round = 0; round < 10; round++) {
    const streams = Array.from({ length: limit }, (_, i) => {
      const stream = session.request({ ':path': `/r${round}-${i}`, ':authority': 'a.test' });
      stream.on('error', () => undefined);
      return stream;
    });
    const before = upstream.stats.total;
    if (!(await eventually(() => upstream.stats.total - before === limit))) break;
    for (const stream of streams) stream.close(http2.constants.NGHTTP2_CANCEL);
  }
  t.equal(upstream.stats.total, 10 * limit, 'every round reached the upstream');
  t.ok(await eventually(() => upstream.stats.active === 0), 'every cancelled stream freed its upstream request');
  t.ok(upstream.stats.maxActive <= 2 * limit, `upstream requests in flight never piled up (max ${upstream.stats.maxActive}, ${limit} streams a round)`);
});

t.test('a CONTINUATION flood ends the session and memory stays flat', async (t) => {
  const upstream = await startSlowUpstream(t, 0);
  const port = await getFreePort();
  const proxy = await startProxy(t, [route(port, upstream.port)]);
  global.gc?.();
  const before = process.memoryUsage().rss;
  const raw = await connectRawH2(port, 'a.test');
  let closed = false;
  void raw.closed.then(() => (closed = true));
  raw.send(frame(frameType.headers, 0, 1, headerBlock([[':method', 'GET'], [':scheme', 'https'], [':authority', 'a.test'], [':path', '/']])));
  const crumb = frame(frameType.continuation, 0, 1, headerBlock([['x-flood', 'y'.repeat(1000)]]));
  let sent = 0;
  for (; sent < 20_000 && !closed; sent++) {
    if (!raw.send(crumb)) await delay(2);
  }
  t.ok(await eventually(() => closed, 10_000), `the session was closed (after ${sent} CONTINUATION frames were written)`);
  t.ok(raw.goawayCode() !== undefined, `with GOAWAY (code ${raw.goawayCode()})`);
  t.ok(sent < 20_000, 'long before the flood was over');
  const grown = (process.memoryUsage().rss - before) / 1024 / 1024;
  t.ok(grown < 64, `memory stayed flat (${grown.toFixed(1)} MiB)`);
  t.ok((proxy.getMetrics().limitHits['http2.protocolError'] ?? 0) >= 1, 'counted as http2.protocolError');
  t.equal(upstream.stats.total, 0, 'nothing reached the upstream');
});

t.test('a client reset aborts its upstream request at once', async (t) => {
  const upstream = await startSlowUpstream(t, 60_000);
  const port = await getFreePort();
  await startProxy(t, [route(port, upstream.port)]);
  const session = await h2Session(t, port, 'a.test');
  const stream = session.request({ ':path': '/hold', ':authority': 'a.test' });
  stream.on('error', () => undefined);
  t.ok(await eventually(() => upstream.stats.active === 1), 'the request reached the upstream');
  const resetAt = performance.now();
  stream.close(http2.constants.NGHTTP2_CANCEL);
  t.ok(await eventually(() => upstream.stats.closedAt.length === 1), 'the upstream request was closed');
  const ms = upstream.stats.closedAt[0]! - resetAt;
  t.ok(ms < 100, `within 100 ms (${ms.toFixed(1)} ms)`);
});

t.test('GOAWAY after maxStreamsPerSession and on idle', async (t) => {
  const upstream = await startSlowUpstream(t, 0);
  const port = await getFreePort();
  const proxy = await startProxy(t, [route(port, upstream.port)], { http2: { maxStreamsPerSession: 3, idleMs: 300 } });
  const session = await h2Session(t, port, 'a.test');
  let goaway = false;
  session.on('goaway', () => (goaway = true));
  for (let i = 0; i < 3; i++) t.equal((await h2Request(session, { ':path': `/${i}`, ':authority': 'a.test' })).status, 200, `stream ${i + 1} served`);
  t.ok(await eventually(() => goaway), 'GOAWAY after the third stream');
  t.equal(proxy.getMetrics().limitHits['http2.maxStreamsPerSession'], 1);
  t.ok(await eventually(() => session.closed || session.destroyed), 'the session closed once its streams were done');

  const idle = await h2Session(t, port, 'a.test');
  let idleGoaway = false;
  idle.on('goaway', () => (idleGoaway = true));
  t.equal((await h2Request(idle, { ':path': '/once', ':authority': 'a.test' })).status, 200);
  t.ok(await eventually(() => idleGoaway && idle.destroyed, 5000), 'an idle session gets GOAWAY and is closed');
});

t.test('stop() sends GOAWAY and lets open streams finish', async (t) => {
  const upstream = await startSlowUpstream(t, 500);
  const port = await getFreePort();
  const proxy = await startProxy(t, [route(port, upstream.port)]);
  const session = await h2Session(t, port, 'a.test');
  let goaway = false;
  session.on('goaway', () => (goaway = true));
  const open = h2Request(session, { ':path': '/slow', ':authority': 'a.test' });
  t.ok(await eventually(() => upstream.stats.active === 1), 'a stream is in flight');
  const stopped = proxy.stop({ drainTimeoutMs: 5000 });
  t.ok(await eventually(() => goaway), 'the client got GOAWAY');
  const answer = await open;
  t.equal(answer.status, 200, 'the open stream finished');
  t.equal(answer.body.toString(), 'done /slow');
  await stopped;
  t.ok(session.destroyed || session.closed, 'the session is gone after stop()');
  t.same(proxy.getListeningPorts(), []);
});

t.test('an upstream that is down gets 502 on the stream, as on HTTP/1.1', async (t) => {
  const port = await getFreePort();
  const dead = await getFreePort();
  await startProxy(t, [route(port, dead)]);
  const session = await h2Session(t, port, 'a.test');
  const answer = await h2Request(session, { ':path': '/', ':authority': 'a.test' });
  t.equal(answer.status, 502);
  t.match(answer.body.toString(), /upstream unavailable/);
  const again = await h2Request(session, { ':path': '/', ':authority': 'a.test', ':method': 'HEAD' });
  t.equal(again.status, 502, 'HEAD too, without a body');
  t.equal(again.body.length, 0);
});

t.test('a header list over http2.maxHeaderListBytes is refused; the session lives on', async (t) => {
  const upstream = await startSlowUpstream(t, 0);
  const port = await getFreePort();
  await startProxy(t, [route(port, upstream.port)], { http2: { maxHeaderListBytes: 8192 } });
  const session = await h2Session(t, port, 'a.test');
  // Before the client acknowledged SETTINGS the proxy answers 431; after, Node resets the stream.
  for (const attempt of ['first', 'second']) {
    const refused = await h2Request(session, { ':path': '/big', ':authority': 'a.test', 'x-big': 'b'.repeat(10_000) }).then(
      (answer) => String(answer.status),
      (error: NodeJS.ErrnoException) => error.message,
    );
    t.match(refused, /^431$|ENHANCE_YOUR_CALM/, `${attempt} oversized request: 431 or ENHANCE_YOUR_CALM (${refused})`);
  }
  t.equal(upstream.stats.total, 0, 'neither reached the upstream');
  t.equal((await h2Request(session, { ':path': '/small', ':authority': 'a.test' })).status, 200, 'the next stream is served');
});

t.test("a client overrunning a stream's flow-control window gets it reset, upstream request aborted", async (t) => {
  const upstream = await startSlowUpstream(t, 60_000);
  const port = await getFreePort();
  const proxy = await startProxy(t, [route(port, upstream.port)]);
  const raw = await connectRawH2(port, 'a.test');
  const head = headerBlock([[':method', 'POST'], [':scheme', 'https'], [':authority', 'a.test'], [':path', '/upload']]);
  const chunk = frame(frameType.data, 0, 1, Buffer.alloc(16_384, 'x'));
  // 160 KiB in one write: far past the 64 KiB stream window, before any WINDOW_UPDATE could be read.
  raw.send(Buffer.concat([frame(frameType.headers, flag.endHeaders, 1, head), ...Array.from({ length: 10 }, () => chunk)]));
  const reset = () => raw.frames.find((f) => f.type === frameType.rstStream && f.streamId === 1);
  t.ok(await eventually(() => reset() !== undefined, 5000), 'the stream was reset');
  t.equal(reset()?.payload.readUInt32BE(0), 3, 'with FLOW_CONTROL_ERROR');
  t.ok(await eventually(() => proxy.getMetrics().limitHits['http2.flowControl'] === 1), 'counted as http2.flowControl');
  t.ok(await eventually(() => upstream.stats.active === 0), 'no upstream request is left behind');
});
