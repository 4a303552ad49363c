/**
 * Smuggling through `Connection`.
 *
 * `Connection` lists headers that are hop-by-hop, and the proxy drops what
 * it lists. A client that listed `Content-Length` used to have it dropped
 * while its body was still forwarded: on the upstream connection the body
 * became a second request (here, for a page a `block` route guards), and
 * the backend's answer to it reached the next client of that pooled
 * connection. Framing headers and Host are never dropped because a peer
 * named them, in either direction; a request reaches the upstream framed as
 * the proxy read it, and a response reaches the client framed.
 * Each case runs through the fast path, a connection handed to Node's
 * server, and terminated TLS.
 */
import t from 'tap';
import http from 'node:http';
import { fronts, startThreeFronts } from './helpers/three-fronts.js';
import { startRawUpstream, startStrictUpstream } from './helpers/strict-upstream.js';

const smuggled = 'GET /admin/secret HTTP/1.1\r\nHost: p.test\r\n\r\n';

for (const front of fronts) {
  for (const method of ['GET', 'POST', 'HEAD', 'DELETE', 'OPTIONS']) {
    t.test(`${front}: Connection: Content-Length on ${method} keeps the body a body`, async (t) => {
      const upstream = await startStrictUpstream(t);
      const proxy = await startThreeFronts(t, upstream.port);
      const reply = await proxy.send(
        front,
        `${method} /public HTTP/1.1\r\nHost: p.test\r\nConnection: Content-Length\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
      );
      t.match(reply, /HTTP\/1\.1 (200|400)/, 'forwarded whole, or refused');
      t.notOk(upstream.urls().includes('/admin/secret'), 'the body never became a request');
      t.same(upstream.parseErrors, [], 'the upstream parsed every byte it got');
      const forwarded = upstream.seen.find((r) => r.url === '/public');
      if (forwarded !== undefined) t.equal(forwarded.body, smuggled, 'the body arrived as the body');
      // The next client on the (pooled) upstream connection gets its own answer.
      t.match(await proxy.send(front, 'GET /victim HTTP/1.1\r\nHost: p.test\r\n\r\n'), /answer for \/victim$/);
    });
  }

  t.test(`${front}: Connection: Transfer-Encoding keeps a chunked body chunked`, async (t) => {
    const upstream = await startStrictUpstream(t);
    const proxy = await startThreeFronts(t, upstream.port);
    const body = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
    const reply = await proxy.send(front, `POST /public HTTP/1.1\r\nHost: p.test\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    t.match(reply, /HTTP\/1\.1 (200|400)/);
    t.notOk(upstream.urls().includes('/admin/secret'));
    t.same(upstream.parseErrors, []);
  });

  t.test(`${front}: Connection: Host cannot remove Host`, async (t) => {
    const upstream = await startStrictUpstream(t);
    const proxy = await startThreeFronts(t, upstream.port);
    const reply = await proxy.send(front, 'GET /h HTTP/1.1\r\nHost: p.test\r\nConnection: Host\r\n\r\n');
    t.match(reply, /HTTP\/1\.1 (200|400)/);
    for (const request of upstream.seen) t.equal(request.headers.host, 'p.test', 'every forwarded request has its Host');
    t.same(upstream.parseErrors, []);
  });

  t.test(`${front}: an upstream's Connection: content-length still gets a framed response`, async (t) => {
    const upstream = await startRawUpstream(t, (n) => `HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 4\r\n\r\nr${String(n).padStart(3, '0')}`);
    const proxy = await startThreeFronts(t, upstream.port);
    const socket = await proxy.connect(front);
    // A strict client reads two responses off one connection: each must end where its own framing says.
    const bodies = await twoResponses(socket);
    t.equal(bodies.length, 2, 'two framed responses');
    t.ok(bodies.every((b) => /^r\d{3}$/.test(b)), `each body is one marker: ${JSON.stringify(bodies)}`);
  });
}

/** Sends two pipelined GETs on the socket and parses the answers with Node's strict client parser. */
function twoResponses(socket: import('node:net').Socket): Promise<string[]> {
  return new Promise((resolve, reject) => {
    // An unframed response leaves the client waiting for bytes that never come: fail fast instead.
    const timer = setTimeout(() => reject(new Error(`responses not framed; read so far: ${JSON.stringify(bodies)}`)), 5000);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // Hand the already-open socket to the agent: Node's parser then reads exactly what the proxy framed.
    agent.createConnection = () => socket;
    const bodies: string[] = [];
    const get = (path: string) =>
      new Promise<void>((done, fail) => {
        http
          .get({ agent, path, headers: { host: 'p.test' } }, (res) => {
            let body = '';
            res.setEncoding('latin1');
            res.on('data', (c: string) => (body += c));
            res.on('end', () => {
              bodies.push(body);
              done();
            });
            res.on('error', fail);
          })
          .on('error', fail);
      });
    get('/one')
      .then(() => get('/two'))
      .then(() => {
        clearTimeout(timer);
        agent.destroy();
        resolve(bodies);
      }, reject);
  });
}
