/**
 * What reaches an upstream is always well-formed.
 *
 * The fast path used to forward request framing as the client wrote it:
 * equal Content-Length lines twice, `chunked` twice, chunk extensions a
 * strict parser rejects (`5 xyz`, an unterminated quote, a megabyte of
 * them) and trailers that are request lines or framing headers. Parsers
 * that disagree on such bytes are how requests get smuggled. Now each is
 * refused with 400 or normalised (extensions and trailers dropped, one
 * framing header written by the proxy); trailer fields can no longer carry
 * a Host or X-Forwarded-For past the proxy's header rules; and a head with
 * bare LFs is answered at once instead of at the head timeout.
 * Each case runs through the fast path, a connection handed to Node's
 * server, and terminated TLS, with Node's strict parser as the upstream.
 */
import t from 'tap';
import { fronts, startThreeFronts } from './helpers/three-fronts.js';
import { startStrictUpstream } from './helpers/strict-upstream.js';

const post = 'POST /up HTTP/1.1\r\nHost: p.test\r\n';
const chunkedPost = `${post}Transfer-Encoding: chunked\r\n\r\n`;
const smuggled = 'GET /admin/x HTTP/1.1\r\nHost: p.test\r\n\r\n';

/** Client messages, and whether the proxy may forward them (normalised) or must refuse them. */
const cases: Record<string, { bytes: string; outcome: 'refused' | 'either' }> = {
  'two equal Content-Length lines': { bytes: `${post}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, outcome: 'refused' },
  'chunked twice in one line': { bytes: `${post}Transfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, outcome: 'refused' },
  'chunked twice in two lines': { bytes: `${post}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, outcome: 'refused' },
  'a coding the proxy cannot decode': { bytes: `${post}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, outcome: 'refused' },
  'extension without a semicolon': { bytes: `${chunkedPost}5 xyz\r\nhello\r\n0\r\n\r\n`, outcome: 'refused' },
  'extension with an open quote': { bytes: `${chunkedPost}5;a="b\r\nhello\r\n0\r\n\r\n`, outcome: 'either' },
  'a 1 MiB extension': { bytes: `${chunkedPost}5;a=${'x'.repeat(1 << 20)}\r\nhello\r\n0\r\n\r\n`, outcome: 'either' },
  'a trailer that is a request line': { bytes: `${chunkedPost}5\r\nhello\r\n0\r\n${smuggled}`, outcome: 'refused' },
  'a Content-Length trailer': { bytes: `${chunkedPost}5\r\nhello\r\n0\r\nContent-Length: 44\r\n\r\n`, outcome: 'either' },
  'a well-formed extension': { bytes: `${chunkedPost}5;name="v a l"\r\nhello\r\n0\r\n\r\n`, outcome: 'either' },
};

for (const front of fronts) {
  for (const [name, { bytes, outcome }] of Object.entries(cases)) {
    t.test(`${front}: ${name}`, async (t) => {
      const upstream = await startStrictUpstream(t);
      const proxy = await startThreeFronts(t, upstream.port);
      const reply = await proxy.send(front, bytes);
      if (outcome === 'refused') t.match(reply, /^HTTP\/1\.1 (400|501) /, 'refused');
      // A client still sending a megabyte when it is refused may see the connection reset before the 400.
      else t.match(reply, /^(HTTP\/1\.1 (200|400) |$)/, 'forwarded normalised, or refused');
      t.same(upstream.parseErrors, [], 'the upstream parsed every byte it got');
      t.notOk(upstream.urls().some((url) => url.startsWith('/admin')), 'no smuggled request');
      for (const request of upstream.seen) {
        t.equal(request.body, 'hello', 'the body arrived decoded to what the client sent');
        t.notOk(request.rawHeaders.some((h) => /^(x-)?content-length$/i.test(h) && request.headers['transfer-encoding'] !== undefined), 'one framing');
      }
    });
  }

  t.test(`${front}: trailer fields cannot carry Host or X-Forwarded-For upstream`, async (t) => {
    const upstream = await startStrictUpstream(t);
    const proxy = await startThreeFronts(t, upstream.port);
    const reply = await proxy.send(front, `${chunkedPost}5\r\nhello\r\n0\r\nX-Forwarded-For: 6.6.6.6\r\nHost: evil.test\r\n\r\n`);
    t.match(reply, /^HTTP\/1\.1 200 /);
    t.equal(upstream.seen.length, 1);
    const request = upstream.seen[0]!;
    t.equal(request.headers['x-forwarded-for'], '127.0.0.1', 'the proxy set the client address');
    t.equal(request.headers.host, 'p.test');
    t.notMatch(JSON.stringify(request.rawHeaders), /6\.6\.6\.6|evil\.test/, 'the trailer fields never arrived');
  });

  t.test(`${front}: a request head with bare LFs is answered at once`, async (t) => {
    const upstream = await startStrictUpstream(t);
    const proxy = await startThreeFronts(t, upstream.port, { timeouts: { headersMs: 30_000 } });
    const started = Date.now();
    const reply = await proxy.send(front, 'GET /lf HTTP/1.1\nHost: p.test\n\n', 300);
    t.match(reply, /^HTTP\/1\.1 400 /);
    t.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms, not at headersMs`);
    t.same(upstream.seen, []);
  });
}
