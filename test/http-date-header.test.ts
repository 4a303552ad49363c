// Every response a client gets carries a Date (RFC 9110 §6.6.1: a proxy that
// forwards a response without one adds it), on every engine, including the
// proxy's own answers; an upstream's own Date is kept, never doubled.
import t from 'tap';
import { fronts, startThreeFronts } from './helpers/three-fronts.js';
import { startRawUpstream } from './helpers/strict-upstream.js';

const dateLine = /\r\nDate: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n/g;

for (const front of fronts) {
  t.test(`${front}: a relayed response without Date gets one, one with Date keeps it`, async (t) => {
    const upstream = await startRawUpstream(t, (n) =>
      n === 0 ? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' : 'HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nok',
    );
    const proxy = await startThreeFronts(t, upstream.port);
    const first = await proxy.send(front, 'GET /a HTTP/1.1\r\nHost: p.test\r\n\r\n', 200);
    t.equal(first.match(dateLine)?.length, 1, 'added');
    const second = await proxy.send(front, 'GET /b HTTP/1.1\r\nHost: p.test\r\n\r\n', 200);
    t.equal(second.match(/\r\nDate: /g)?.length, 1, 'one Date');
    t.match(second, /\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n/, 'the upstream one');
  });

  t.test(`${front}: the proxy's own 400 and 502 carry a Date`, async (t) => {
    const upstream = await startRawUpstream(t, () => 'HTTP/1.1 099 Bad\r\n\r\n');
    const proxy = await startThreeFronts(t, upstream.port);
    for (const [bytes, status] of [
      ['GET / HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['GET /x HTTP/1.1\r\nHost: p.test\r\n\r\n', /^HTTP\/1\.1 502 /],
      ['GET /x HTTP/1.1\r\nHost: p.test\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx', /^HTTP\/1\.1 400 /],
    ] as const) {
      const reply = await proxy.send(front, bytes, 200);
      t.match(reply, status, JSON.stringify(bytes));
      t.equal(reply.match(dateLine)?.length, 1, `Date on ${JSON.stringify(reply.slice(0, 12))}`);
    }
  });
}
