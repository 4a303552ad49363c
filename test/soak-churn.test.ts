// Churn without loss. While keep-alive HTTP, terminated HTTPS, TLS
// passthrough, plain TCP and WebSocket clients keep traffic flowing,
// 1,000 updateRoutes() calls add and remove routes and ports that none of
// that traffic uses. Nothing in flight may fail, no connection on a route
// that stayed may be reset, and no port in use may be released. Then
// stop() must leave no socket, listener or timer of the proxy behind.
//
// Bounded: about 20-30 s on two cores. SOAK_SCALE=<n> multiplies the
// number of updates and the load time; SOAK_LONG=1 is SOAK_SCALE=10.
import t from 'tap';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import { SmartProxy, createCertificateAuthority, createSelfSignedCertificate, type IRouteConfig } from '../ts/index.js';
import { closeServer, listen, silentLogger } from './helpers/backends.js';
import { closed, delay, eventually, rawConnect } from './helpers/data-path.js';
import { quietPorts } from './helpers/port-probe.js';
import { prng } from './helpers/prng.js';

const scale = Number(process.env.SOAK_SCALE ?? (process.env.SOAK_LONG === '1' ? 10 : 1));
if (!(scale > 0)) throw new Error(`SOAK_SCALE should be a positive number, got ${process.env.SOAK_SCALE}`);
const plan = {
  updates: Math.round(1000 * scale),
  /** Updates are fired this many at a time, each batch awaited. */
  batch: 4,
  /** The load runs at least this long, updates or not. */
  minLoadMs: 20_000 * scale,
  /** Updates stop being fired once this is spent (the count assertion then fails). */
  budgetMs: 60_000 * scale,
};
// tap's per-file timeout (180 s) only has to be raised for longer runs.
if (scale > 1) t.setTimeout(plan.budgetMs + plan.minLoadMs + 120_000);

const ca = createCertificateAuthority('soak test CA');
const proxyCert = createSelfSignedCertificate({ domains: ['secure.test'], issuer: ca });
const backendCert = createSelfSignedCertificate({ domains: ['pass.test'], issuer: ca });


/** Handle kinds that a proxy could leak: listeners, sockets, timers. */
const handleKinds = ['TCPServerWrap', 'TCPSocketWrap', 'Timeout'] as const;
type HandleCounts = Record<(typeof handleKinds)[number], number>;

function handleCounts(): HandleCounts {
  const counts: HandleCounts = { TCPServerWrap: 0, TCPSocketWrap: 0, Timeout: 0 };
  for (const name of process.getActiveResourcesInfo()) {
    if (name in counts) counts[name as keyof HandleCounts]++;
  }
  return counts;
}

function handlesAbove(now: HandleCounts, base: HandleCounts): number {
  return handleKinds.reduce((sum, kind) => sum + Math.max(0, now[kind] - base[kind]), 0);
}

/** Open TCP sockets by local/remote port and state: what a leak looks like, for the failure diagnostics. */
function describeSockets(): string[] {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  const summary = new Map<string, number>();
  for (const handle of handles) {
    if (!(handle instanceof net.Socket) || handle.remotePort === undefined && handle.localPort === undefined) continue;
    const key = `local ${handle.localPort} remote ${handle.remotePort} readable=${handle.readable} writableEnded=${handle.writableEnded}`;
    summary.set(key, (summary.get(key) ?? 0) + 1);
  }
  return [...summary].slice(0, 20).map(([key, count]) => `${count} × ${key}`);
}

/** The test's own servers, tracked so they can be closed (every connection included) before the handle count. */
class Backends {
  readonly #servers: net.Server[] = [];
  readonly #sockets = new Set<net.Socket>();
  httpRequests = 0;

  async add<S extends net.Server>(server: S): Promise<number> {
    server.on('connection', (socket: net.Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    server.on('secureConnection', (socket: net.Socket) => socket.on('error', () => socket.destroy()));
    await listen(server);
    this.#servers.push(server);
    return (server.address() as net.AddressInfo).port;
  }

  get count(): number {
    return this.#servers.length;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all(this.#servers.map((server) => closeServer(server)));
  }
}

async function startBackends(backends: Backends) {
  const httpServer = http.createServer((req, res) => {
    backends.httpRequests++;
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ name: 'app', url: req.url, body }));
    });
  });
  const echo = (socket: net.Socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  };
  const tcpServer = net.createServer({ allowHalfOpen: true }, echo);
  const tlsServer = tls.createServer({ key: backendCert.key, cert: backendCert.cert }, echo);
  const wsServer = http.createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server: wsServer });
  wss.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })));
  return {
    http: await backends.add(httpServer),
    tcp: await backends.add(tcpServer),
    tls: await backends.add(tlsServer),
    ws: await backends.add(wsServer),
    wss,
  };
}

type Target = { host: string; port: number };
const at = (port: number): Target => ({ host: '127.0.0.1', port });

/** What the clients saw. A reset is a connection on a route that stayed, closed while the load was running. */
class Figures {
  sent = 0;
  failed = 0;
  resets = 0;
  readonly problems: string[] = [];
  running = true;

  fail(kind: string, error: unknown): void {
    this.failed++;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ECONNRESET' || code === 'EPIPE') this.resets++;
    if (this.problems.length < 20) this.problems.push(`${kind}: ${(error as Error).message ?? String(error)}`);
  }

  /** Counts the socket as reset if it closes before the load stops. */
  watch(kind: string, connection: { once(event: 'close', listener: () => void): unknown }): void {
    connection.once('close', () => {
      if (!this.running) return;
      this.resets++;
      if (this.problems.length < 20) this.problems.push(`${kind}: connection closed under load`);
    });
  }
}

/** A watchdog, not a timing assertion: a hung exchange fails instead of hanging the test. */
function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within 20 s`)), 20_000);
  });
  return Promise.race([promise, watchdog]).finally(() => clearTimeout(timer));
}

function request(options: https.RequestOptions, secure: boolean, body: string | undefined): Promise<{ status: number; text: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, socket: req.socket! }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends `message` and resolves once it has come back whole. */
function echoRoundTrip(socket: net.Socket, message: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = '';
    const done = (error?: Error) => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', done);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.length < message.length) return;
      done(received === message ? undefined : new Error(`echo came back as ${JSON.stringify(received.slice(0, 60))}`));
    };
    const onClose = () => done(new Error('connection closed mid-exchange'));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', done);
    socket.write(message);
  });
}

interface Ports {
  http: number;
  tls: number;
  tcp: number;
}

/** The client loops: each runs exchanges back to back until the load stops. */
function startLoad(figures: Figures, ports: Ports): { loops: Promise<void>[]; cleanups: (() => Promise<void>)[] } {
  const loops: Promise<void>[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const loop = (kind: string, exchange: (n: number) => Promise<void>) => {
    loops.push(
      (async () => {
        for (let n = 0; figures.running; n++) {
          figures.sent++;
          try {
            await bounded(exchange(n), kind);
          } catch (error) {
            figures.fail(kind, error);
            await delay(50); // a broken loop must not spin
          }
        }
      })(),
    );
  };

  // Keep-alive HTTP and terminated HTTPS: one agent socket each, reused for every request.
  const keepAlive = (kind: string, secure: boolean, index: number) => {
    const agent = secure
      ? new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.cert, servername: 'secure.test' })
      : new http.Agent({ keepAlive: true, maxSockets: 1 });
    const seen = new WeakSet<net.Socket>();
    cleanups.push(async () => agent.destroy());
    loop(kind, async (n) => {
      const post = n % 3 === 0;
      const body = post ? `payload-${index}-${n}` : undefined;
      const res = await request(
        {
          host: '127.0.0.1',
          port: secure ? ports.tls : ports.http,
          path: `/${kind}/${n}`,
          method: post ? 'POST' : 'GET',
          agent,
          headers: { host: secure ? 'secure.test' : 'app.test', ...(body ? { 'content-length': Buffer.byteLength(body) } : {}) },
        },
        secure,
        body,
      );
      if (!seen.has(res.socket)) {
        seen.add(res.socket);
        figures.watch(kind, res.socket);
      }
      if (res.status !== 200) throw new Error(`status ${res.status}: ${res.text.slice(0, 100)}`);
      const json = JSON.parse(res.text) as { name: string; url: string; body: string };
      if (json.name !== 'app' || json.url !== `/${kind}/${n}` || json.body !== (body ?? '')) throw new Error(`wrong answer ${res.text}`);
    });
  };
  for (let i = 0; i < 3; i++) keepAlive(`http-${i}`, false, i);
  for (let i = 0; i < 2; i++) keepAlive(`https-${i}`, true, i);

  // A new HTTP connection per request: what new visitors see while ports come and go.
  loop('http-fresh', async (n) => {
    const res = await request({ host: '127.0.0.1', port: ports.http, path: `/fresh/${n}`, agent: false, headers: { host: 'app.test' } }, false, undefined);
    if (res.status !== 200) throw new Error(`status ${res.status}: ${res.text.slice(0, 100)}`);
  });

  // TLS passthrough and plain TCP: long-lived connections exchanging messages, plus one new connection per exchange.
  const connectPassthrough = async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: ports.tls, servername: 'pass.test', ca: ca.cert });
    await once(socket, 'secureConnect');
    return socket;
  };
  const connectTcp = () => rawConnect(ports.tcp);
  for (const [kind, connect] of [['passthrough', connectPassthrough], ['tcp', connectTcp]] as const) {
    for (let i = 0; i < 2; i++) {
      const name = `${kind}-${i}`;
      let socket: net.Socket | undefined;
      cleanups.push(async () => {
        if (socket === undefined || socket.destroyed) return;
        const done = closed(socket);
        socket.end();
        await done;
      });
      loop(name, async (n) => {
        if (socket === undefined) {
          socket = await connect();
          socket.on('error', () => undefined);
          figures.watch(name, socket);
        }
        await echoRoundTrip(socket, `${name}:${n};`.repeat(1 + (n % 7)));
      });
    }
    loop(`${kind}-fresh`, async (n) => {
      const socket = await connect();
      socket.on('error', () => undefined);
      try {
        await echoRoundTrip(socket, `fresh:${n};`);
      } finally {
        const done = closed(socket);
        socket.end();
        await done;
      }
    });
  }

  // WebSockets: long-lived, messages both ways.
  for (let i = 0; i < 2; i++) {
    const name = `ws-${i}`;
    let client: WebSocket | undefined;
    let waiting: { resolve(text: string): void; reject(error: Error): void } | undefined;
    cleanups.push(async () => {
      if (client === undefined || client.readyState === WebSocket.CLOSED) return;
      const done = once(client, 'close');
      client.close(1000);
      await done;
    });
    loop(name, async (n) => {
      if (client === undefined) {
        const socket = new WebSocket(`ws://127.0.0.1:${ports.http}/live`, { headers: { host: 'ws.test' } });
        socket.on('error', () => undefined);
        await once(socket, 'open');
        figures.watch(name, socket);
        socket.on('message', (data: Buffer) => waiting?.resolve(data.toString()));
        socket.once('close', () => waiting?.reject(new Error('websocket closed mid-exchange')));
        client = socket;
      }
      const message = `${name}:${n}`;
      const reply = new Promise<string>((resolve, reject) => (waiting = { resolve, reject }));
      client.send(message);
      const echoed = await reply;
      waiting = undefined;
      if (echoed !== message) throw new Error(`websocket echoed ${echoed}`);
    });
  }
  return { loops, cleanups };
}

t.test(`churn: ${plan.updates} updateRoutes() calls under steady load lose nothing`, async (t) => {
  const seed = Number(process.env.SOAK_SEED ?? 20250101);
  t.comment(`seed ${seed} (SOAK_SEED replays it), scale ${scale}`);
  const random = prng(seed);
  const baseline = handleCounts();
  const backends = new Backends();
  const targets = await startBackends(backends);
  const withBackends = handleCounts();

  const [httpPort, tlsPort, tcpPort, ...churnPorts] = await quietPorts(13);
  const ports: Ports = { http: httpPort!, tls: tlsPort!, tcp: tcpPort! };
  const stable: IRouteConfig[] = [
    { name: 'app', match: { ports: ports.http, domains: 'app.test' }, action: { type: 'forward', target: at(targets.http) } },
    { name: 'ws', match: { ports: ports.http, domains: 'ws.test' }, action: { type: 'forward', target: at(targets.ws) } },
    { name: 'secure', match: { ports: ports.tls, domains: 'secure.test' }, action: { type: 'forward', target: at(targets.http), tls: { mode: 'terminate', certificate: proxyCert } } },
    { name: 'pass', match: { ports: ports.tls, domains: 'pass.test' }, action: { type: 'forward', target: at(targets.tls), tls: { mode: 'passthrough' } } },
    { name: 'tcp', match: { ports: ports.tcp }, action: { type: 'forward', target: at(targets.tcp) } },
  ];
  const stablePorts = new Set([ports.http, ports.tls, ports.tcp]);

  /** Routes no client uses: on ports that come and go, and beside the stable routes on their ports. */
  const unrelated = (call: number): IRouteConfig[] => {
    const routes: IRouteConfig[] = [];
    for (const port of churnPorts) {
      const pick = random();
      if (pick < 0.5) continue;
      const name = `churn-${call}-${port}`;
      if (pick < 0.7) routes.push({ name, match: { ports: port, domains: `c${call}.test` }, action: { type: 'forward', target: at(targets.http) } });
      else if (pick < 0.85) routes.push({ name, match: { ports: port }, action: { type: 'forward', target: at(targets.tcp) } });
      else routes.push({ name, match: { ports: port, domains: `c${call}.tls.test` }, action: { type: 'forward', target: at(targets.tls), tls: { mode: 'passthrough' } } });
    }
    if (random() < 0.5) routes.push({ name: `extra-http-${call}`, match: { ports: ports.http, domains: `x${call}.test`, path: '/x/*' }, action: { type: 'static', static: { body: 'x' } } });
    if (random() < 0.5) routes.push({ name: `extra-tls-${call}`, match: { ports: ports.tls, domains: `x${call}.tls.test` }, action: { type: 'forward', target: at(targets.tls), tls: { mode: 'passthrough' } } });
    // A TLS route on the plain HTTP port makes its new connections peek first: still not a reason to touch old ones.
    if (random() < 0.1) routes.push({ name: `extra-peek-${call}`, match: { ports: ports.http, domains: `p${call}.tls.test` }, action: { type: 'forward', target: at(targets.tls), tls: { mode: 'passthrough' } } });
    if (random() < 0.2) routes.push({ name: `extra-span-${call}`, match: { ports: [ports.http, churnPorts[call % churnPorts.length]!], domains: `s${call}.test` }, action: { type: 'block' } });
    return routes;
  };

  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), routes: stable });
  const releasedStable: number[] = [];
  let applied = 0;
  proxy.on('port-released', ({ port }) => {
    if (stablePorts.has(port)) releasedStable.push(port);
  });
  await proxy.start();
  proxy.on('routes-updated', () => applied++);
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await proxy.stop({ drainTimeoutMs: 200 });
    await backends.close();
  });

  const startRss = process.memoryUsage().rss;
  let peakRss = startRss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  const figures = new Figures();
  const loadStarted = Date.now();
  const load = startLoad(figures, ports);
  await eventually(() => figures.sent > 50, 10_000);

  // The churn: batches of concurrent updates, each batch awaited, spread over most of the load time.
  const churnStarted = Date.now();
  const deadline = churnStarted + plan.budgetMs;
  const rejected: string[] = [];
  let fired = 0;
  let last: IRouteConfig[] = stable;
  while (fired < plan.updates && Date.now() < deadline) {
    const batch: Promise<void>[] = [];
    for (let i = 0; i < plan.batch && fired < plan.updates; i++, fired++) {
      last = [...stable, ...unrelated(fired)];
      batch.push(proxy.updateRoutes(last).catch((error: Error) => void rejected.push(`update ${fired}: ${error.message}`)));
    }
    await Promise.all(batch);
    const due = churnStarted + (fired / plan.updates) * plan.minLoadMs * 0.7;
    if (due > Date.now()) await delay(due - Date.now());
    else await new Promise((resolve) => setImmediate(resolve));
  }
  const churnDone = Date.now();
  while (Date.now() - loadStarted < plan.minLoadMs) await delay(100);

  t.same(proxy.getListeningPorts(), [...new Set(last.flatMap((r) => [r.match.ports].flat() as number[]))].sort((a, b) => a - b), 'the ports of the last update are the ones listening');
  for (const route of last.filter((r) => r.name?.startsWith('churn-') && r.match.domains !== undefined && r.action.tls === undefined).slice(0, 1)) {
    const port = route.match.ports as number;
    const res = await request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { host: route.match.domains as string } }, false, undefined);
    t.equal(res.status, 200, `an unrelated route of the last update serves (${route.name})`);
  }

  figures.running = false;
  await Promise.all(load.loops);
  clearInterval(sampler);
  for (const cleanup of load.cleanups) await cleanup();

  t.same(rejected, [], 'no updateRoutes() call failed');
  t.equal(fired, plan.updates, `all ${plan.updates} updates were fired within the budget`);
  t.equal(applied, fired, 'every update applied (routes-updated count)');
  t.equal(figures.failed, 0, 'no request failed');
  t.equal(figures.resets, 0, 'no connection on a route that stayed was reset');
  t.same(figures.problems, [], 'nothing went wrong on the client side');
  t.same(releasedStable, [], 'no port that stayed in use was released');
  t.ok(figures.sent > 100, `traffic flowed throughout (${figures.sent} exchanges)`);

  await proxy.stop({ drainTimeoutMs: 2000 });
  stopped = true;
  t.same(proxy.getListeningPorts(), []);
  // Sockets close asynchronously on both ends; wait (bounded) for the counts to settle.
  await eventually(() => handlesAbove(handleCounts(), withBackends) === 0, 5000);
  const afterStop = handleCounts();
  const openAfterStop = handlesAbove(afterStop, withBackends);
  t.same(afterStop, withBackends, 'after stop() only the test backends hold handles (no proxy socket, listener or timer)', { sockets: describeSockets() });
  targets.wss.close();
  await backends.close();
  await eventually(() => handlesAbove(handleCounts(), baseline) === 0, 5000);
  t.same(handleCounts(), baseline, 'with the backends closed, the handle counts are back to where they started');

  t.comment(`requests sent:        ${figures.sent}`);
  t.comment(`failed:               ${figures.failed}`);
  t.comment(`resets:               ${figures.resets}`);
  t.comment(`updates applied:      ${applied} of ${fired} fired, from ${((churnStarted - loadStarted) / 1000).toFixed(1)} s to ${((churnDone - loadStarted) / 1000).toFixed(1)} s into the load`);
  t.comment(`peak RSS:             ${(peakRss / 1024 / 1024).toFixed(1)} MiB (${(startRss / 1024 / 1024).toFixed(1)} MiB when the load started)`);
  t.comment(`open handles after stop: ${openAfterStop} (${JSON.stringify(afterStop)} vs ${JSON.stringify(withBackends)} with only the backends)`);
  t.comment(`backend HTTP requests: ${backends.httpRequests}, load time ${((Date.now() - loadStarted) / 1000).toFixed(1)} s`);
});

t.test('a request in flight on a removed route finishes, then its connection closes; a route that stayed is untouched', async (t) => {
  const backends = new Backends();
  const pending: (() => void)[] = [];
  const backendPort = await backends.add(
    http.createServer((req, res) => {
      pending.push(() => res.end(`done ${req.headers.host}`));
    }),
  );
  t.teardown(() => backends.close());
  const [port] = await quietPorts(1);
  const route = (name: string): IRouteConfig => ({ name, match: { ports: port!, domains: `${name}.test` }, action: { type: 'forward', target: at(backendPort) } });
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), routes: [route('keep'), route('gone')] });
  await proxy.start();
  t.teardown(() => proxy.stop({ drainTimeoutMs: 200 }));

  const keep = await rawConnect(port!);
  const gone = await rawConnect(port!);
  let keepClosed = false;
  keep.once('close', () => (keepClosed = true));
  const goneReply = closed(gone);
  const keepReply = readResponse(keep, 'done keep.test');
  keep.write('GET /slow HTTP/1.1\r\nHost: keep.test\r\n\r\n');
  gone.write('GET /slow HTTP/1.1\r\nHost: gone.test\r\n\r\n');
  t.ok(await eventually(() => pending.length === 2), 'both requests reached the backend');

  await proxy.updateRoutes([route('keep')]);
  for (const release of pending.splice(0)) release();

  const goneText = await goneReply;
  t.match(goneText, /^HTTP\/1\.1 200 /, 'the request on the removed route finished');
  t.match(goneText, /\r\nconnection: close\r\n/i, 'with Connection: close');
  t.match(goneText, /done gone\.test$/, 'and its whole body');
  const keepText = await keepReply;
  t.match(keepText, /^HTTP\/1\.1 200 /);
  t.notMatch(keepText, /connection: close/i, 'the route that stayed keeps its connection alive');
  const second = readResponse(keep, 'done keep.test');
  keep.write('GET /again HTTP/1.1\r\nHost: keep.test\r\n\r\n');
  t.ok(await eventually(() => pending.length === 1));
  pending.splice(0)[0]!();
  t.match(await second, /^HTTP\/1\.1 200 /, 'and serves its next request on the same connection');
  t.notOk(keepClosed, 'the connection on the unchanged route was never closed');
  keep.destroy();
});

/** Collects bytes until the text ends with `end` (a response whose body is known). */
function readResponse(socket: net.Socket, end: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (!text.endsWith(end)) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(text);
    };
    const onClose = () => reject(new Error(`closed before the response ended: ${JSON.stringify(text)}`));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}
