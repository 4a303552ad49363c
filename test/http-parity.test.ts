/**
 * Parity: each HTTP behaviour is one row, run through every engine — the
 * fast engine on plain HTTP, a connection the fast engine handed to Node's
 * server, and terminated TLS. A behaviour that holds on one and not another
 * means a rule is written twice; adding a behaviour means adding a row.
 */
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import type { ISmartProxyOptions } from '../ts/index.js';
import { delay, eventually, startHttpServer, trackSockets, serve, type Teardown } from './helpers/data-path.js';
import { requestsOver } from './helpers/http-over.js';
import { startRawUpstream, startStrictUpstream } from './helpers/strict-upstream.js';
import { collect, fronts, startThreeFronts, type Front, type ThreeFronts } from './helpers/three-fronts.js';

/** The assertions and teardown a row uses: tap's own test object. */
type Assert = Pick<typeof t, 'equal' | 'not' | 'same' | 'match' | 'ok' | 'notOk' | 'teardown'>;

interface Case {
  t: Assert;
  front: Front;
  proxy: ThreeFronts;
}

interface Row<U extends { port: number } = { port: number }> {
  name: string;
  /** The upstream the proxy forwards to. */
  upstream(t: Teardown): Promise<U>;
  options?: Partial<ISmartProxyOptions>;
  run(c: Case, upstream: U): Promise<void>;
}

/** A row whose `run` sees its own upstream's type (the strict upstream's record of requests, say). */
const row = <U extends { port: number }>(r: Row<U>): Row => r as unknown as Row;

/** An upstream answering with what it received: method, url, headers and body. */
async function echoUpstream(t: Teardown) {
  return startHttpServer(t, (req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    });
  });
}

const rows: Row[] = [
  {
    name: 'a Content-Length body goes up and a Content-Length body comes back',
    upstream: echoUpstream,
    async run({ t, front, proxy }) {
      const [res] = await requestsOver(await proxy.connect(front), [{ method: 'POST', path: '/cl', headers: { 'content-length': 5 }, body: 'hello' }]);
      t.equal(res!.status, 200);
      t.equal(JSON.parse(res!.body).body, 'hello');
      t.equal(res!.headers['content-length'], String(Buffer.byteLength(res!.body)));
    },
  },
  {
    name: 'a chunked body goes up chunked, and a chunked response comes back chunked',
    upstream: (t) =>
      startHttpServer(t, (req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString('latin1')));
        req.on('end', () => {
          res.write(`te=${req.headers['transfer-encoding']};`);
          res.end(body);
        });
      }),
    async run({ t, front, proxy }) {
      const [res] = await requestsOver(await proxy.connect(front), [{ method: 'POST', path: '/chunked', headers: { 'transfer-encoding': 'chunked' }, body: 'hello' }]);
      t.equal(res!.body, 'te=chunked;hello');
      t.equal(res!.headers['transfer-encoding'], 'chunked');
    },
  },
  row({
    name: 'hop-by-hop request headers and those named in Connection go no further',
    upstream: startStrictUpstream,
    async run({ t, front, proxy }, upstream) {
      const [up] = await requestsOver(await proxy.connect(front), [{ path: '/hop', headers: { connection: 'keep-alive, X-Down-Hop', 'x-down-hop': '1', 'keep-alive': 'timeout=5', 'proxy-connection': 'x', te: 'trailers', 'x-kept': '1' } }]);
      t.equal(up!.status, 200);
      const seen = upstream.seen[0]!.headers;
      for (const name of ['x-down-hop', 'keep-alive', 'proxy-connection', 'te']) t.notOk(name in seen, `${name} not forwarded`);
      t.equal(seen['x-kept'], '1');
    },
  }),
  {
    name: 'hop-by-hop response headers are dropped',
    upstream: (t) => startRawUpstream(t, () => 'HTTP/1.1 200 OK\r\nConnection: X-Up-Hop\r\nX-Up-Hop: 1\r\nKeep-Alive: timeout=7, max=3\r\nX-Kept: 1\r\nContent-Length: 2\r\n\r\nok'),
    async run({ t, front, proxy }) {
      const [res] = await requestsOver(await proxy.connect(front), [{ path: '/hop' }]);
      t.notOk('x-up-hop' in res!.headers);
      // Node's server may state its own Keep-Alive for the client connection; the upstream's is never relayed.
      t.not(res!.headers['keep-alive'], 'timeout=7, max=3');
      t.equal(res!.headers['x-kept'], '1');
    },
  },
  {
    name: 'X-Forwarded-* say who asked, how and where; forged ones are replaced',
    upstream: echoUpstream,
    async run({ t, front, proxy }) {
      const [res] = await requestsOver(await proxy.connect(front), [{ path: '/xff', headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'gopher' } }]);
      const headers = JSON.parse(res!.body).headers;
      t.equal(headers['x-forwarded-for'], '127.0.0.1');
      t.equal(headers['x-forwarded-proto'], front === 'tls' ? 'https' : 'http');
      t.equal(headers['x-forwarded-host'], 'p.test');
      t.equal(headers['x-forwarded-port'], String(front === 'tls' ? proxy.tlsPort : proxy.plainPort));
      t.equal(headers.host, 'p.test', 'Host kept');
    },
  },
  {
    name: 'a response without Date gets one',
    upstream: (t) => startRawUpstream(t, () => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    async run({ t, front, proxy }) {
      const [res] = await requestsOver(await proxy.connect(front), [{ path: '/date' }]);
      t.match(res!.headers.date, /GMT$/);
    },
  },
  {
    name: 'an upstream that refuses gives 502',
    upstream: async () => ({ port: await closedPort() }),
    async run({ t, front, proxy }) {
      const [res] = await requestsOver(await proxy.connect(front), [{ path: '/down' }]);
      t.equal(res!.status, 502);
    },
  },
  {
    name: 'an upstream that does not answer in time gives 504',
    upstream: (t) => startHttpServer(t, () => undefined),
    options: { timeouts: { upstreamResponseMs: 300 } },
    async run({ t, front, proxy }) {
      const [res] = await requestsOver(await proxy.connect(front), [{ path: '/slow' }]);
      t.equal(res!.status, 504);
    },
  },
  {
    name: 'a pooled upstream connection the upstream closed is retried once, unseen by the client',
    upstream: async (t) => {
      // Closes every connection shortly after answering, without saying so: the next request meets a dead pooled socket.
      const server = trackSockets(
        http.createServer((req, res) => {
          res.end(`fresh ${req.url}`);
          setTimeout(() => req.socket.destroy(), 30);
        }),
      );
      return serve(t, server);
    },
    async run({ t, front, proxy }) {
      const socket = await proxy.connect(front);
      const [first] = await requestsOver(socket, [{ path: '/one' }]);
      t.equal(first!.body, 'fresh /one');
      await delay(100);
      const [second] = await requestsOver(await proxy.connect(front), [{ path: '/two' }]);
      t.equal(second!.status, 200);
      t.equal(second!.body, 'fresh /two');
    },
  },
  {
    name: 'Expect: 100-continue gets its 100 and then the answer',
    upstream: echoUpstream,
    async run({ t, front, proxy }) {
      const socket = await proxy.connect(front);
      const reply = collect(socket, 1000);
      socket.write('PUT /expect HTTP/1.1\r\nHost: p.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
      await eventually(() => socket.bytesRead > 0 || socket.destroyed, 3000);
      socket.write('hello');
      const text = await reply;
      t.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
      t.match(text, /"body":"hello"/);
    },
  },
  {
    name: 'pipelined requests are answered in order',
    upstream: echoUpstream,
    async run({ t, front, proxy }) {
      const text = await proxy.send(front, 'GET /p1 HTTP/1.1\r\nHost: p.test\r\n\r\nGET /p2 HTTP/1.1\r\nHost: p.test\r\n\r\nGET /p3 HTTP/1.1\r\nHost: p.test\r\n\r\n', 400);
      const urls = [...text.matchAll(/"url":"(\/p\d)"/g)].map((m) => m[1]);
      t.same(urls, ['/p1', '/p2', '/p3']);
    },
  },
  {
    name: 'HEAD, 204 and 304 responses have no body',
    upstream: (t) =>
      startHttpServer(t, (req, res) => {
        if (req.url === '/204') return void res.writeHead(204).end();
        if (req.url === '/304') return void res.writeHead(304, { etag: '"x"' }).end();
        res.writeHead(200, { 'content-length': 5 });
        res.end(req.method === 'HEAD' ? undefined : 'hello');
      }),
    async run({ t, front, proxy }) {
      const got = await requestsOver(await proxy.connect(front), [{ method: 'HEAD', path: '/h' }, { path: '/204' }, { path: '/304' }, { path: '/after' }]);
      t.same(
        got.map((r) => [r.status, r.body]),
        [
          [200, ''],
          [204, ''],
          [304, ''],
          [200, 'hello'],
        ],
      );
      t.equal(got[0]!.headers['content-length'], '5', 'HEAD keeps the length it would have');
    },
  },
  {
    name: 'a request head that does not arrive in time gets 408',
    upstream: echoUpstream,
    options: { timeouts: { headersMs: 300 } },
    async run({ t, front, proxy }) {
      t.match(await proxy.send(front, 'GET /partial HTTP/1.1\r\nHost: p.test\r\n', 2500), /^HTTP\/1\.1 408 /);
    },
  },
  {
    name: 'each request is counted for its route',
    upstream: echoUpstream,
    async run({ t, front, proxy }) {
      const route = `app-${front === 'tls' ? proxy.tlsPort : proxy.plainPort}`;
      const before = proxy.proxy.getMetrics().routes[route]?.requests ?? 0;
      await requestsOver(await proxy.connect(front), [{ path: '/m1' }, { path: '/m2' }]);
      t.ok(await eventually(() => (proxy.proxy.getMetrics().routes[route]?.requests ?? 0) - before >= 2), 'two requests counted');
    },
  },
  {
    name: 'a route update is seen by the next request on an open keep-alive connection',
    upstream: echoUpstream,
    async run({ t, front, proxy }) {
      const other = await startHttpServer(t, (_req, res) => res.end('the new upstream'));
      const socket = await proxy.connect(front);
      const [before] = await requestsOver(socket, [{ path: '/u' }]);
      t.match(before!.body, /"url":"\/u"/);
      await proxy.retarget(other.port);
      const after = await requestsOver(socket, [{ path: '/u' }]).catch(async () => requestsOver(await proxy.connect(front), [{ path: '/u' }]));
      t.equal(after[0]!.body, 'the new upstream');
    },
  },
];

for (const row of rows) {
  for (const front of fronts) {
    t.test(`${front}: ${row.name}`, async (t) => {
      const upstream = await row.upstream(t);
      const proxy = await startThreeFronts(t, upstream.port, row.options);
      await row.run({ t, front, proxy }, upstream);
    });
  }
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
