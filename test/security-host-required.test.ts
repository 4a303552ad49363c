/**
 * No request reaches an upstream without Host.
 *
 * An HTTP/1.1 request without Host is refused (RFC 9112 §3.2) whatever
 * route would take it: an absolute-form target without a Host header used
 * to be forwarded Host-less, and so did any request on a `domains: '*'`
 * route. An upstream that reads a missing Host its own way (a default
 * virtual host, a framework's fallback) serves a site the proxy never
 * routed to. HTTP/1.0, which had no Host, is forwarded with the authority
 * of its absolute-form target as Host, and refused without one.
 */
import t from 'tap';
import { fronts, startThreeFronts } from './helpers/three-fronts.js';
import { startStrictUpstream } from './helpers/strict-upstream.js';

const refused: Record<string, string> = {
  'HTTP/1.1 with no Host': 'GET /a HTTP/1.1\r\n\r\n',
  'HTTP/1.1 absolute-form with no Host': 'GET http://p.test/a HTTP/1.1\r\n\r\n',
  'HTTP/1.0 with no Host': 'GET /a HTTP/1.0\r\n\r\n',
};

for (const front of fronts) {
  for (const [name, bytes] of Object.entries(refused)) {
    t.test(`${front}: ${name} is refused with 400`, async (t) => {
      const upstream = await startStrictUpstream(t);
      const proxy = await startThreeFronts(t, upstream.port);
      t.match(await proxy.send(front, bytes), /^HTTP\/1\.1 400 /);
      t.same(upstream.seen, [], 'nothing was forwarded');
    });
  }

  t.test(`${front}: HTTP/1.0 absolute-form goes upstream with its authority as Host`, async (t) => {
    const upstream = await startStrictUpstream(t);
    const proxy = await startThreeFronts(t, upstream.port);
    t.match(await proxy.send(front, 'GET http://p.test/a HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200 [^]*answer for \/a$/);
    t.equal(upstream.seen.length, 1);
    t.equal(upstream.seen[0]!.headers.host, 'p.test');
    t.same(upstream.parseErrors, []);
  });
}
