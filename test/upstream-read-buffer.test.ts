// Upstream sockets read into one reusable buffer (ts/proxy/upstream/read-buffer.ts).
// A client that reads slowly makes the proxy's writes queue while the upstream
// keeps sending: a buffer reused too early would hand the client bytes of a
// later read. Each body here is random, larger than the socket buffers, and
// must arrive byte-exact, through the fast HTTP path (length, chunked and
// until-close bodies; plain and TLS-terminated, where a write that went
// through to the TLS handle lets the buffer be reused at once) and a TCP
// forward.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { createSelfSignedCertificate, type IRouteAction } from '../ts/index.js';
import { ownReadBuffer, writeKeepsChunk, writesThrough } from '../ts/proxy/upstream/read-buffer.js';
import { eventually, serve, startProxy, type Teardown } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const body = randomBytes(16 * 1024 * 1024);
const digest = createHash('sha256').update(body).digest('hex');
const certificate = createSelfSignedCertificate({ domains: ['slow.test'] });

/** Writes `data` in uneven pieces, as a real upstream's reads would arrive. */
function writeUneven(socket: net.Socket, data: Buffer, framed: boolean): void {
  let at = 0;
  let size = 1000;
  while (at < data.length) {
    const piece = data.subarray(at, at + size);
    socket.write(framed ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece);
    at += piece.length;
    size = (size * 7 + 4093) % 150_000 || 1;
  }
  if (framed) socket.write('0\r\n\r\n');
}

/** An upstream answering every request (or, for `tcp`, every connection) with the body. */
async function upstream(t: Teardown, mode: 'length' | 'chunked' | 'close' | 'tcp') {
  return serve(
    t,
    net.createServer((socket) => {
      socket.on('error', () => {});
      // Reading is what lets this side see the proxy's FIN and close.
      socket.resume();
      if (mode === 'tcp') return void writeUneven(socket, body, false);
      socket.once('data', () => {
        const head = mode === 'length' ? `Content-Length: ${body.length}\r\n` : mode === 'chunked' ? 'Transfer-Encoding: chunked\r\n' : 'Connection: close\r\n';
        socket.write(`HTTP/1.1 200 OK\r\n${head}\r\n`);
        writeUneven(socket, body, mode === 'chunked');
        if (mode === 'close') socket.end();
      });
    }),
  );
}

/** Reads everything after the response head, pausing after each read so the proxy's writes back up. */
function readSlowly(socket: net.Socket, want: number, skipHead: boolean, chunked: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let total = 0;
    socket.on('data', (chunk: Buffer) => {
      parts.push(chunk);
      total += chunk.length;
      if (total >= want + (skipHead ? 64 : 0) && !chunked) {
        const all = Buffer.concat(parts);
        const start = skipHead ? all.indexOf('\r\n\r\n') + 4 : 0;
        if (all.length - start >= want) return void (socket.destroy(), resolve(all.subarray(start, start + want)));
      }
      if (chunked && chunk.subarray(-5).toString() === '0\r\n\r\n') return void (socket.destroy(), resolve(dechunk(Buffer.concat(parts))));
      // Now and then a longer stop fills the socket buffers, so the proxy's writes go out in part and queue the rest.
      const stop = parts.length % 16 === 0 ? 20 : 0;
      socket.pause();
      setTimeout(() => socket.resume(), stop);
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`connection closed after ${total} bytes`)));
  });
}

function dechunk(all: Buffer): Buffer {
  let at = all.indexOf('\r\n\r\n') + 4;
  const out: Buffer[] = [];
  for (;;) {
    const eol = all.indexOf('\r\n', at);
    const size = parseInt(all.subarray(at, eol).toString(), 16);
    if (size === 0) return Buffer.concat(out);
    out.push(all.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

const cases = [
  { mode: 'length', tls: false },
  { mode: 'chunked', tls: false },
  { mode: 'close', tls: false },
  { mode: 'tcp', tls: false },
  { mode: 'length', tls: true },
  { mode: 'chunked', tls: true },
  { mode: 'close', tls: true },
] as const;

for (const { mode, tls: overTls } of cases) {
  const what = mode === 'tcp' ? 'TCP stream' : mode === 'close' ? 'body that ends with the upstream connection' : `${mode} body`;
  t.test(`a slow client gets a 16 MiB ${what} byte-exact${overTls ? ' over TLS termination' : ''}`, async (t) => {
    const origin = await upstream(t, mode);
    const port = await getFreePort();
    const match = mode === 'tcp' ? { ports: port } : { ports: port, domains: 'slow.test' };
    const action: IRouteAction = { type: 'forward', target: { host: '127.0.0.1', port: origin.port }, ...(overTls ? { tls: { mode: 'terminate', certificate } } : {}) };
    await startProxy(t, [{ name: 'slow', match, action }]);
    const socket = overTls ? tls.connect({ host: '127.0.0.1', port, servername: 'slow.test', rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
    if (mode !== 'tcp') socket.write('GET /big HTTP/1.1\r\nHost: slow.test\r\n\r\n');
    else socket.write('hello');
    // A body until the upstream closes reaches an HTTP/1.1 client chunked.
    const got = await readSlowly(socket, body.length, mode !== 'tcp', mode === 'chunked' || mode === 'close');
    t.equal(got.length, body.length);
    t.equal(createHash('sha256').update(got).digest('hex'), digest, 'every byte in order');
  });
}

t.test('a response head split across upstream reads is kept intact between them', async (t) => {
  const origin = await serve(
    t,
    net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        // The second read lands in the same reusable buffer the first one used.
        socket.write('HTTP/1.1 200 OK\r\nX-First-Half: aaaaaaaaaaaaaaaa\r\n');
        setTimeout(() => socket.end('X-Second-Half: bbbb\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello'), 50);
      });
    }),
  );
  const port = await getFreePort();
  await startProxy(t, [{ name: 'split', match: { ports: port, domains: 'split.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: origin.port } } }]);
  const socket = net.connect(port, '127.0.0.1');
  socket.write('GET / HTTP/1.1\r\nHost: split.test\r\n\r\n');
  let text = '';
  socket.setEncoding('latin1');
  // The upstream's Connection: close is its own: the client's connection stays open, so the body's end is awaited.
  await new Promise<void>((resolve) => socket.on('data', (chunk: string) => (text += chunk).endsWith('hello') && resolve()));
  socket.destroy();
  t.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  t.match(text, /\r\nX-First-Half: aaaaaaaaaaaaaaaa\r\n/i);
  t.match(text, /\r\nX-Second-Half: bbbb\r\n/i);
  t.match(text, /\r\n\r\nhello$/);
});

t.test('ownReadBuffer: small reads land in the shared buffer as copies; a bulk flow reads into its own, moved on when kept', async (t) => {
  let keep = false;
  const seen: Buffer[] = [];
  const onread = ownReadBuffer((view) => {
    seen.push(view);
    return keep;
  });
  const next = onread.buffer as () => Buffer;
  const landing = next();
  landing.write('abc');
  onread.callback(3, landing);
  t.not(seen[0]!.buffer, landing.buffer, 'a small read is handed on as a copy');
  landing.write('xyz');
  t.equal(seen[0]!.toString(), 'abc', 'so the next read cannot change it');
  t.equal(next(), landing, 'and the socket stays on the shared buffer');

  onread.callback(20_000, landing);
  const own = next();
  t.not(own, landing, 'a large read moves the socket to a buffer of its own');
  own.write('bulk');
  onread.callback(20_000, own);
  t.equal(seen[2]!.buffer, own.buffer, 'whose bytes are handed on without a copy');
  t.equal(next(), own, 'and reused while nothing keeps them');
  keep = true;
  onread.callback(20_000, own);
  const moved = next();
  t.not(moved, own, 'bytes still referenced after delivery move the socket to another buffer');
  t.equal(own.subarray(0, 4).toString(), 'bulk', 'leaving the kept bytes as they were');
  keep = false;
  onread.callback(10, moved);
  t.equal(next(), landing, 'a small read after a bulk flow returns the socket to the shared buffer');
});

t.test('writeKeepsChunk: a write that went through to a TLS handle no longer needs its bytes; one queued behind another does', async (t) => {
  // The rule leans on TLSWrap encrypting (or copying) the bytes inside the write call: each case scribbles
  // over a buffer the rule calls free, right after the call, and the client must still read the original.
  const server = await serve(t, tls.createServer({ key: certificate.key, cert: certificate.cert }));
  const accepted = new Promise<tls.TLSSocket>((resolve) => server.once('secureConnection', resolve));
  const client = tls.connect({ host: '127.0.0.1', port: server.port, servername: 'slow.test', rejectUnauthorized: false });
  t.teardown(() => client.destroy());
  const sending = await accepted;
  const received: Buffer[] = [];
  client.on('data', (chunk: Buffer) => received.push(chunk));
  const fill = (byte: number) => Buffer.alloc(32 * 1024, byte);

  const one = fill(1);
  let through = writesThrough(sending);
  sending.write(one);
  t.ok(through, 'an idle TLS socket takes a write straight to its handle');
  t.equal(writeKeepsChunk(sending, through), false, 'so the bytes of one write are free when it returns');
  one.fill(9);

  // The first write has not completed yet (TLS writes complete later): the next one queues in the stream behind it.
  through = writesThrough(sending);
  t.notOk(through, 'a TLS socket whose last write has not completed does not take the next one through');
  const queued = fill(2);
  sending.write(queued);
  t.equal(writeKeepsChunk(sending, through), true, 'a write queued behind another still points into its bytes');

  await new Promise<void>((resolve) => sending.once('drain', resolve));
  const a = fill(3);
  const b = fill(4);
  through = writesThrough(sending);
  sending.cork();
  sending.write(a);
  sending.write(b);
  sending.uncork();
  t.equal(writeKeepsChunk(sending, through), false, 'a corked batch goes through in one call as well');
  a.fill(9);
  b.fill(9);

  const want = Buffer.concat([fill(1), fill(2), fill(3), fill(4)]);
  t.ok(await eventually(() => Buffer.concat(received).length >= want.length), 'everything arrives');
  t.ok(Buffer.concat(received).equals(want), 'with the bytes as they were when written');
});
