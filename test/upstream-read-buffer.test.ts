// Upstream sockets read into one reusable buffer (ts/proxy/upstream/read-buffer.ts).
// A client that reads slowly makes the proxy's writes queue while the upstream
// keeps sending: a buffer reused too early would hand the client bytes of a
// later read. Each body here is random, larger than the socket buffers, and
// must arrive byte-exact, through the fast HTTP path (length and chunked
// bodies) and a TCP forward.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { ownReadBuffer } from '../ts/proxy/upstream/read-buffer.js';
import { serve, startProxy, type Teardown } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const body = randomBytes(16 * 1024 * 1024);
const digest = createHash('sha256').update(body).digest('hex');

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
async function upstream(t: Teardown, mode: 'length' | 'chunked' | 'tcp') {
  return serve(
    t,
    net.createServer((socket) => {
      socket.on('error', () => {});
      // Reading is what lets this side see the proxy's FIN and close.
      socket.resume();
      if (mode === 'tcp') return void writeUneven(socket, body, false);
      socket.once('data', () => {
        const head = mode === 'length' ? `Content-Length: ${body.length}` : 'Transfer-Encoding: chunked';
        socket.write(`HTTP/1.1 200 OK\r\n${head}\r\n\r\n`);
        writeUneven(socket, body, mode === 'chunked');
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

for (const mode of ['length', 'chunked', 'tcp'] as const) {
  t.test(`a slow client gets a 16 MiB ${mode === 'tcp' ? 'TCP stream' : `${mode} body`} byte-exact`, async (t) => {
    const origin = await upstream(t, mode);
    const port = await getFreePort();
    const match = mode === 'tcp' ? { ports: port } : { ports: port, domains: 'slow.test' };
    await startProxy(t, [{ name: 'slow', match, action: { type: 'forward', target: { host: '127.0.0.1', port: origin.port } } }]);
    const socket = net.connect(port, '127.0.0.1');
    if (mode !== 'tcp') socket.write('GET /big HTTP/1.1\r\nHost: slow.test\r\n\r\n');
    else socket.write('hello');
    const got = await readSlowly(socket, body.length, mode !== 'tcp', mode === 'chunked');
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
