/**
 * Node's HTTP server, where the fast path hands a connection over, must not
 * lose or corrupt messages either.
 *
 * Two ways it did: a parse error on bytes pipelined behind a request wrote
 * `400 Bad Request` into the middle of the response body still streaming
 * (the client read it as body bytes); and Node keeps only the first 2,000
 * header fields of a request, dropping the rest in silence, framing ones
 * included, so a body could again become a request. Now a parse error
 * after a response has begun cuts the connection, and a request with more
 * fields than `limits.maxHeaderCount` (default 100) gets 431 on every engine.
 */
import t from 'tap';
import { once } from 'node:events';
import { fronts, startThreeFronts, collect } from './helpers/three-fronts.js';
import { startStrictUpstream } from './helpers/strict-upstream.js';
import { startHttpServer } from './helpers/data-path.js';

for (const front of fronts) {
  t.test(`${front}: garbage pipelined behind a streaming response closes the connection instead of writing into the body`, async (t) => {
    const upstream = await startHttpServer(t, (req, res) => {
      res.writeHead(200, { 'content-length': 10 });
      res.write('first');
      setTimeout(() => res.end('-last'), 300);
    });
    const proxy = await startThreeFronts(t, upstream.port);
    const socket = await proxy.connect(front);
    const reply = collect(socket, 1000);
    socket.write('GET /slow HTTP/1.1\r\nHost: p.test\r\n\r\n');
    await once(socket, 'data');
    socket.write('\x00\x01 not http\r\n\r\n');
    const received = await reply;
    t.match(received, /^HTTP\/1\.1 200 /);
    // The body is the 10 bytes its Content-Length says, or a cut-short prefix of them: never a status line.
    const body = received.slice(received.indexOf('\r\n\r\n') + 4, received.indexOf('\r\n\r\n') + 14);
    t.ok('first-last'.startsWith(body) && body.length >= 5, `no status line inside the body: ${JSON.stringify(body)}`);
  });
}

for (const front of fronts) {
  t.test(`${front}: a request with more header fields than the limit gets 431 and is not forwarded`, async (t) => {
    const upstream = await startStrictUpstream(t);
    const proxy = await startThreeFronts(t, upstream.port, { limits: { maxHeaderBytes: 65_536 } });
    let fields = '';
    for (let i = 0; i < 2100; i++) fields += `X-${i}: 1\r\n`;
    const smuggled = 'GET /admin/x HTTP/1.1\r\nHost: p.test\r\n\r\n';
    const reply = await proxy.send(front, `POST /many HTTP/1.1\r\nHost: p.test\r\n${fields}Content-Length: ${smuggled.length}\r\n\r\n${smuggled}`);
    t.match(reply, /^HTTP\/1\.1 431 /);
    t.same(upstream.seen, []);
    t.equal(proxy.proxy.getMetrics().limitHits.maxHeaderCount, 1, 'counted as a limit hit');
  });

  t.test(`${front}: a request at the limit is forwarded`, async (t) => {
    const upstream = await startStrictUpstream(t);
    const proxy = await startThreeFronts(t, upstream.port, { limits: { maxHeaderCount: 20 } });
    let fields = '';
    for (let i = 0; i < 19; i++) fields += `X-${i}: 1\r\n`;
    t.match(await proxy.send(front, `GET /ok HTTP/1.1\r\nHost: p.test\r\n${fields}\r\n`), /^HTTP\/1\.1 200 /);
    t.match(await proxy.send(front, `GET /over HTTP/1.1\r\nHost: p.test\r\n${fields}X-Last: 1\r\n\r\n`), /^HTTP\/1\.1 431 /);
    t.same(upstream.urls(), ['/ok']);
  });
}
