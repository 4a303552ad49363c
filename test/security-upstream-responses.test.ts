/**
 * An upstream answer can never take the proxy down, nor reach a client
 * unframed.
 *
 * Node's HTTP parser accepts status codes and reason phrases that its own
 * `writeHead` refuses with a throw: `HTTP/1.1 099 Weird` from one backend
 * used to end the whole process (on every TLS-terminated route, and on
 * plain HTTP once a connection was handed to Node). Any upstream answer,
 * however broken, now gets a 502 while nothing was sent yet, and the proxy
 * keeps serving. A head with bare LFs is refused at once rather than after
 * the upstream timeout.
 */
import t from 'tap';
import { fronts, startThreeFronts } from './helpers/three-fronts.js';
import { startRawUpstream } from './helpers/strict-upstream.js';

const broken: Record<string, string> = {
  'status 099': 'HTTP/1.1 099 Weird\r\nContent-Length: 2\r\n\r\nok',
  'status 000': 'HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\nok',
  'status 600': 'HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nok',
  'status 999': 'HTTP/1.1 999 Odd\r\nContent-Length: 2\r\n\r\nok',
  'reason with \\x01': 'HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok',
  'reason with \\x7f': 'HTTP/1.1 200 O\x7fK\r\nContent-Length: 2\r\n\r\nok',
  'bare LF head': 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok',
  'two Content-Length': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok',
  'chunked twice': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
};

for (const front of fronts) {
  for (const [name, answer] of Object.entries(broken)) {
    t.test(`${front}: ${name} gets a 502 at once and the proxy stays up`, async (t) => {
      const upstream = await startRawUpstream(t, (n) => (n === 0 ? answer : 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh'));
      // Timeouts far above the test's wait: an answer that waits for them is a failure.
      const proxy = await startThreeFronts(t, upstream.port, { timeouts: { upstreamResponseMs: 30_000 } });
      const started = Date.now();
      const reply = await proxy.send(front, 'GET /x HTTP/1.1\r\nHost: p.test\r\n\r\n', 300);
      t.match(reply, /^HTTP\/1\.1 502 /, 'a 502');
      t.ok(Date.now() - started < 5000, 'answered without waiting for a timeout');
      t.match(await proxy.send(front, 'GET /y HTTP/1.1\r\nHost: p.test\r\n\r\n', 300), /^HTTP\/1\.1 200 [^]*fresh$/, 'and serves the next request');
    });
  }

  t.test(`${front}: an interim 1xx with a bad reason is dropped or refused, never relayed`, async (t) => {
    const upstream = await startRawUpstream(t, () => 'HTTP/1.1 103 Ear\x01ly\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const proxy = await startThreeFronts(t, upstream.port);
    const reply = await proxy.send(front, 'GET /x HTTP/1.1\r\nHost: p.test\r\n\r\n', 300);
    t.notMatch(reply, /\x01/);
    t.match(reply, /^HTTP\/1\.1 (200|502) /);
  });
}

for (const front of fronts) {
  t.test(`${front}: the proxy's own 502 to a HEAD request has no body, so the next response is read as a response`, async (t) => {
    const upstream = await startRawUpstream(t, (n) => (n === 0 ? 'HTTP/1.1 051 Odd\r\nContent-Length: 2\r\n\r\nok' : 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh'));
    const proxy = await startThreeFronts(t, upstream.port);
    const reply = await proxy.send(front, 'HEAD /x HTTP/1.1\r\nHost: p.test\r\n\r\nGET /y HTTP/1.1\r\nHost: p.test\r\n\r\n', 300);
    const [first, second] = reply.split(/(?=HTTP\/1\.1 )/);
    t.match(first, /^HTTP\/1\.1 502 [^]*\r\n\r\n$/, 'head only');
    t.match(second, /^HTTP\/1\.1 200 [^]*fresh$/, 'then the next response, whole');
  });
}
