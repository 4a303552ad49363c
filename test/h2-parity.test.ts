// One pipeline, four transports: each row is sent over the fast path, a
// connection handed to Node's server, terminated TLS (HTTP/1.1) and an
// HTTP/2 stream, and must get the same status from the same proxy. A rule
// written in one place passes on all four; a rule an engine wrote again
// (or forgot) fails here.
import t from 'tap';
import { fronts, startThreeFronts, type ThreeFronts } from './helpers/three-fronts.js';
import { startRawUpstream } from './helpers/strict-upstream.js';
import { h2Request, h2Session } from './helpers/h2-client.js';

interface Row {
  name: string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  /** The upstream's answer to this row's request. */
  upstream?: string;
  status: number;
  body?: RegExp;
}

const ok = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh';
const rows: Row[] = [
  { name: 'forwarded', path: '/x', status: 200, body: /^fresh$/ },
  { name: 'a block route', path: '/admin/secret', status: 403 },
  { name: 'a static route', path: '/handover', status: 200, body: /^handover$/ },
  { name: 'upstream status 099', path: '/x', upstream: 'HTTP/1.1 099 Weird\r\nContent-Length: 2\r\n\r\nok', status: 502 },
  { name: 'upstream reason with \\x01', path: '/x', upstream: 'HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok', status: 502 },
  { name: 'upstream chunked twice', path: '/x', upstream: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', status: 502 },
  { name: "upstream's Connection: content-length", path: '/x', upstream: 'HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\nfresh', status: 200, body: /^fresh$/ },
  { name: 'more header fields than limits.maxHeaderCount', path: '/x', headers: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`x-h${i}`, 'v'])), status: 431 },
];

type Transport = (typeof fronts)[number] | 'h2';
const transports: Transport[] = [...fronts, 'h2'];

async function send(t: Parameters<typeof h2Session>[0], proxy: ThreeFronts, transport: Transport, row: Row): Promise<{ status: number; body: string }> {
  const host = row.headers?.host ?? 'p.test';
  const extra = Object.entries(row.headers ?? {}).filter(([name]) => name !== 'host');
  if (transport === 'h2') {
    const session = await h2Session(t, proxy.tlsPort, 'p.test');
    const answer = await h2Request(session, { ':method': row.method ?? 'GET', ':path': row.path, ':authority': host, ...Object.fromEntries(extra) });
    session.close();
    return { status: answer.status, body: answer.body.toString('latin1') };
  }
  const head = `${row.method ?? 'GET'} ${row.path} HTTP/1.1\r\nHost: ${host}\r\n${extra.map(([n, v]) => `${n}: ${v}\r\n`).join('')}Connection: close\r\n\r\n`;
  const reply = await proxy.send(transport, head, 400);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0);
  return { status, body: reply.slice(reply.indexOf('\r\n\r\n') + 4) };
}

for (const row of rows) {
  t.test(row.name, async (t) => {
    const upstream = await startRawUpstream(t, () => row.upstream ?? ok);
    const proxy = await startThreeFronts(t, upstream.port, { timeouts: { upstreamResponseMs: 30_000 } });
    for (const transport of transports) {
      const answer = await send(t, proxy, transport, row);
      t.equal(answer.status, row.status, `${transport}: ${row.status}`);
      if (row.body !== undefined) t.match(answer.body, row.body, `${transport}: body`);
    }
  });
}
