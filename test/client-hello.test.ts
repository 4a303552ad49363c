// Tests for the ClientHello parser: real hellos captured from Node's TLS
// client, the same hellos re-framed and cut at every byte, hand-built hellos
// with broken length fields, and seeded fuzzing that must never throw.
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import {
  type ClientHelloResult,
  looksLikeTls,
  MAX_CLIENT_HELLO_BYTES,
  parseClientHello,
} from '../ts/proxy/tls/client-hello.js';
import { prng } from './helpers/prng.js';

// ---- capture -------------------------------------------------------------

/**
 * captureHello connects Node's TLS client to a plain TCP server on port 0
 * and returns the first record it sends (Node's hello fits in one record).
 */
async function captureHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  const accepted = once(server, 'connection');
  const client = tls.connect({ host: '127.0.0.1', port: address.port, rejectUnauthorized: false, ...options });
  client.on('error', () => {}); // the server hangs up mid-handshake on purpose
  try {
    const [socket] = (await accepted) as [net.Socket];
    try {
      return await readFirstRecord(socket);
    } finally {
      socket.destroy();
    }
  } finally {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function readFirstRecord(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 5 || buf.length < 5 + buf.readUInt16BE(3)) return;
      socket.off('data', onData);
      resolve(buf.subarray(0, 5 + buf.readUInt16BE(3)));
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error('socket closed before the first record')));
  });
}

// ---- building and re-framing ---------------------------------------------

/** reframe splits the handshake payload of a one-record hello over records of `size` bytes. */
function reframe(hello: Buffer, size: number): Buffer {
  const payload = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const parts: Buffer[] = [];
  for (let i = 0; i < payload.length; i += size) {
    const fragment = payload.subarray(i, i + size);
    parts.push(recordHeader(0x16, fragment.length, hello[2] ?? 1), fragment);
  }
  return Buffer.concat(parts);
}

function recordHeader(type: number, length: number, minor = 1): Buffer {
  return Buffer.from([type, 0x03, minor, length >> 8, length & 0xff]);
}

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const vec8 = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b.length]), b]);
const vec16 = (b: Buffer): Buffer => Buffer.concat([u16(b.length), b]);
const ext = (type: number, body: Buffer): Buffer => Buffer.concat([u16(type), vec16(body)]);
const sniExt = (name: string | Buffer): Buffer =>
  ext(0, vec16(Buffer.concat([Buffer.from([0]), vec16(Buffer.from(name))])));
const alpnExt = (protocols: string[]): Buffer =>
  ext(16, vec16(Buffer.concat(protocols.map((p) => vec8(Buffer.from(p))))));

interface HelloParts {
  sessionId?: Buffer;
  cipherSuites?: Buffer;
  compression?: Buffer;
  /** Extension block contents; wrapped in a correct 16-bit length. */
  extensions?: Buffer[];
  /** Bytes placed after the compression methods as-is, to forge lengths. */
  tail?: Buffer;
}

/** buildHello returns a ClientHello handshake message (header included). */
function buildHello(parts: HelloParts): Buffer {
  const body = Buffer.concat([
    Buffer.from([0x03, 0x03]),
    Buffer.alloc(32, 7),
    vec8(parts.sessionId ?? Buffer.alloc(0)),
    vec16(parts.cipherSuites ?? Buffer.from([0x13, 0x01])),
    vec8(parts.compression ?? Buffer.from([0])),
    parts.tail ?? (parts.extensions ? vec16(Buffer.concat(parts.extensions)) : Buffer.alloc(0)),
  ]);
  return Buffer.concat([Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
}

/** inRecord wraps a handshake message in one handshake record. */
function inRecord(message: Buffer): Buffer {
  return Buffer.concat([recordHeader(0x16, message.length), message]);
}

function ok(result: ClientHelloResult): Extract<ClientHelloResult, { kind: 'ok' }> {
  if (result.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return result;
}

// ---- tests -----------------------------------------------------------------

void t.test('real client hellos', async (t) => {
  const hello = await captureHello({ servername: 'example.com', ALPNProtocols: ['h2', 'http/1.1'] });
  const noSni = await captureHello({ ALPNProtocols: ['http/1.1'] });
  const acme = await captureHello({ servername: 'example.com', ALPNProtocols: ['acme-tls/1'] });
  const upper = await captureHello({ servername: 'Example.COM' });

  t.test('reads SNI and ALPN', async (t) => {
    const result = ok(parseClientHello(hello));
    t.equal(result.serverName, 'example.com');
    t.same(result.alpnProtocols, ['h2', 'http/1.1']);
    t.equal(result.consumed, hello.length);
  });

  t.test('consumed ignores bytes after the hello', async (t) => {
    const result = ok(parseClientHello(Buffer.concat([hello, Buffer.from('trailing')])));
    t.equal(result.consumed, hello.length);
  });

  t.test('IP host sends no SNI', async (t) => {
    const result = ok(parseClientHello(noSni));
    t.equal(result.serverName, undefined);
    t.same(result.alpnProtocols, ['http/1.1']);
  });

  t.test('detects acme-tls/1', async (t) => {
    const result = ok(parseClientHello(acme));
    t.same(result.alpnProtocols, ['acme-tls/1']);
  });

  t.test('lower-cases an uppercase SNI', async (t) => {
    t.ok(upper.includes('Example.COM'), 'the wire carries the original case');
    const result = ok(parseClientHello(upper));
    t.equal(result.serverName, 'example.com');
    t.same(result.alpnProtocols, []);
  });

  t.test('every prefix is incomplete', async (t) => {
    let bad = 0;
    for (let n = 0; n < hello.length; n++) {
      if (parseClientHello(hello.subarray(0, n)).kind !== 'incomplete') bad++;
    }
    t.equal(bad, 0);
  });

  for (const size of [1, 2, 3, 4, 5, 16, 100, 256]) {
    t.test(`re-framed into ${size}-byte records`, async (t) => {
      const framed = reframe(hello, size);
      const result = ok(parseClientHello(framed));
      t.equal(result.serverName, 'example.com');
      t.same(result.alpnProtocols, ['h2', 'http/1.1']);
      t.equal(result.consumed, framed.length);
      let bad = 0;
      for (let n = 0; n < framed.length; n++) {
        if (parseClientHello(framed.subarray(0, n)).kind !== 'incomplete') bad++;
      }
      t.equal(bad, 0, 'every prefix is incomplete');
    });
  }

  t.test('corrupted length fields', async (t) => {
    const patch = (at: number, bytes: number[]): Buffer => {
      const copy = Buffer.from(hello);
      copy.set(bytes, at);
      return copy;
    };
    const handshakeLength = hello.readUIntBE(6, 3);
    const cases: Array<[string, Buffer]> = [
      ['record length 0', patch(3, [0, 0])],
      ['record length over 16 KiB + 256', patch(3, [0x41, 0x01])],
      ['record version 2.0', patch(1, [2])],
      ['handshake type server_hello', patch(5, [2])],
      ['handshake length 2^24 - 1', patch(6, [0xff, 0xff, 0xff])],
      ['handshake length one short', patch(7, [(handshakeLength - 1) >> 8, (handshakeLength - 1) & 0xff])],
      ['session id length 255', patch(43, [255])],
    ];
    for (const [name, buf] of cases) {
      const result = parseClientHello(buf);
      t.equal(result.kind, 'invalid', `${name}: ${result.kind === 'invalid' ? result.reason : result.kind}`);
    }

    // One byte longer than the record: waits for a next record, then rejects an alert.
    const long = patch(7, [(handshakeLength + 1) >> 8, (handshakeLength + 1) & 0xff]);
    t.equal(parseClientHello(long).kind, 'incomplete', 'handshake length one long');
    const alert = Buffer.concat([recordHeader(0x15, 2, 3), Buffer.from([2, 40])]);
    t.equal(parseClientHello(Buffer.concat([long, alert])).kind, 'invalid', 'alert inside the hello');

    // Cut the last 10 bytes and fix both headers: the extensions no longer add up.
    const cut = Buffer.from(hello.subarray(0, hello.length - 10));
    cut.writeUInt16BE(cut.length - 5, 3);
    cut.writeUIntBE(cut.length - 9, 6, 3);
    t.equal(parseClientHello(cut).kind, 'invalid', 'truncated body');
  });

  t.test('mutated hellos never throw', async (t) => {
    const random = prng(0x5eed);
    const kinds = new Set<string>();
    let bad = 0;
    for (let i = 0; i < 3000; i++) {
      const copy = Buffer.from(hello);
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) copy[1 + Math.floor(random() * (copy.length - 1))] = Math.floor(random() * 256);
      const buf = copy.subarray(0, 1 + Math.floor(random() * copy.length));
      const result = parseClientHello(buf);
      kinds.add(result.kind);
      if (result.kind === 'not-tls') bad++;
      if (result.kind === 'ok' && (result.consumed > buf.length || !/^[a-z0-9._-]*$/.test(result.serverName ?? ''))) bad++;
    }
    t.equal(bad, 0);
    t.ok(kinds.has('invalid') && kinds.has('ok') && kinds.has('incomplete'), `saw ${[...kinds].join(', ')}`);
  });
});

t.test('not TLS', async (t) => {
  t.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')).kind, 'not-tls');
  t.equal(parseClientHello(Buffer.from('G')).kind, 'not-tls');
  t.equal(parseClientHello(Buffer.from([0x80, 0x2e, 0x01, 0x00, 0x02])).kind, 'not-tls', 'SSLv2 hello');
  t.equal(parseClientHello(Buffer.alloc(0)).kind, 'incomplete');
  t.equal(parseClientHello(Buffer.from([0x16])).kind, 'incomplete');
  t.equal(looksLikeTls(0x16), true);
  t.equal(looksLikeTls(0x47), false);
});

t.test('random garbage after 0x16 is invalid or incomplete', async (t) => {
  const random = prng(42);
  let bad = 0;
  for (let i = 0; i < 4000; i++) {
    const buf = Buffer.alloc(1 + Math.floor(random() * 600));
    for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(random() * 256);
    buf[0] = 0x16;
    // Half the time give it a plausible header so the fuzz reaches the body parser.
    if (i % 2 === 0 && buf.length >= 6) {
      buf[1] = 0x03;
      buf.writeUInt16BE(Math.min(buf.length - 5, Math.floor(random() * 700)) || 1, 3);
      buf[5] = 0x01;
    }
    const kind = parseClientHello(buf).kind;
    if (kind !== 'invalid' && kind !== 'incomplete') bad++;
  }
  t.equal(bad, 0);
});

t.test('built hellos', async (t) => {
  const valid = (extensions: Buffer[]): ClientHelloResult => parseClientHello(inRecord(buildHello({ extensions })));

  t.test('no extensions at all', async (t) => {
    const result = ok(parseClientHello(inRecord(buildHello({}))));
    t.equal(result.serverName, undefined);
    t.same(result.alpnProtocols, []);
  });

  t.test('unknown extensions are skipped', async (t) => {
    const result = ok(valid([ext(0xff01, Buffer.from([0])), sniExt('a.example'), ext(21, Buffer.alloc(0)), alpnExt(['h2'])]));
    t.equal(result.serverName, 'a.example');
    t.same(result.alpnProtocols, ['h2']);
  });

  t.test('host name validation', async (t) => {
    t.equal(ok(valid([sniExt('_acme-challenge.Foo-1.example')])).serverName, '_acme-challenge.foo-1.example');
    const bad: Array<[string, string | Buffer]> = [
      ['empty', ''],
      ['space', 'exa mple.com'],
      ['slash', 'example.com/x'],
      ['NUL', Buffer.from('example.com\0evil.com', 'latin1')],
      ['non-ASCII', Buffer.from('exämple.com', 'utf8')],
      ['only a dot', '.'],
      ['two trailing dots', 'example.com..'],
      ['leading dot', '.example.com'],
      ['double dot', 'example..com'],
      ['label of 64', `${'a'.repeat(64)}.com`],
      ['254 bytes', `${'a.'.repeat(126)}ab`],
    ];
    for (const [name, host] of bad) {
      const result = valid([sniExt(host)]);
      t.equal(result.kind, 'invalid', `${name}: ${result.kind === 'invalid' ? result.reason : result.kind}`);
    }
    t.equal(ok(valid([sniExt(`${'a.'.repeat(126)}a`)])).serverName?.length, 253, '253 bytes is fine');
    t.equal(ok(valid([sniExt(`${'a.'.repeat(126)}a.`)])).serverName?.length, 253, '253 bytes and a trailing dot is fine');
  });

  t.test('one trailing dot names the same host (issue 13)', async (t) => {
    t.equal(ok(valid([sniExt('example.com.')])).serverName, 'example.com');
    t.equal(ok(valid([sniExt('Example.COM.')])).serverName, 'example.com');
  });

  t.test('refusals say which TLS alert they deserve (issue 13)', async (t) => {
    const alertOf = (result: ClientHelloResult) => (result.kind === 'invalid' ? result.alert : result.kind);
    t.equal(alertOf(valid([sniExt('exa mple.com')])), 'decode_error', 'bad host name');
    t.equal(alertOf(parseClientHello(Buffer.from([0x16, 0x09, 0x09, 0x09]))), 'handshake_failure', 'not a TLS version');
    t.equal(alertOf(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00]))), 'handshake_failure', 'a ServerHello');
    t.equal(alertOf(parseClientHello(inRecord(buildHello({ tail: Buffer.concat([u16(9), sniExt('a.b')]) })))), 'decode_error', 'bad length');
  });

  t.test('malformed extensions', async (t) => {
    const hostEntry = Buffer.concat([Buffer.from([0]), vec16(Buffer.from('example.com'))]);
    const cases: Array<[string, HelloParts]> = [
      ['extension block length too long', { tail: Buffer.concat([u16(9), sniExt('a.b')]) }],
      ['extension block length too short', { tail: Buffer.concat([u16(3), sniExt('a.b')]) }],
      ['one byte of extension block length', { tail: Buffer.from([0]) }],
      ['truncated extension header', { extensions: [Buffer.from([0, 0, 0])] }],
      ['extension length past the block', { extensions: [Buffer.from([0, 0, 0, 9, 0])] }],
      ['empty server_name body', { extensions: [ext(0, Buffer.alloc(0))] }],
      ['server_name list length 0', { extensions: [ext(0, u16(0))] }],
      ['server_name list length mismatch', { extensions: [ext(0, Buffer.concat([u16(99), hostEntry]))] }],
      ['host name length past the list', { extensions: [ext(0, vec16(Buffer.from([0, 0, 50, 0x61])))] }],
      ['name type 1', { extensions: [ext(0, vec16(Buffer.concat([Buffer.from([1]), vec16(Buffer.from('a.b'))])))] }],
      ['two host names', { extensions: [ext(0, vec16(Buffer.concat([hostEntry, hostEntry])))] }],
      ['server_name twice', { extensions: [sniExt('a.b'), sniExt('c.d')] }],
      ['alpn list empty', { extensions: [ext(16, u16(0))] }],
      ['alpn empty protocol name', { extensions: [ext(16, vec16(Buffer.from([2, 0x68, 0x32, 0])))] }],
      ['alpn name past the list', { extensions: [ext(16, vec16(Buffer.from([5, 0x68, 0x32])))] }],
      ['alpn twice', { extensions: [alpnExt(['h2']), alpnExt(['http/1.1'])] }],
      ['session id length 33', { sessionId: Buffer.alloc(33), extensions: [] }],
      ['odd cipher suites length', { cipherSuites: Buffer.from([0x13, 0x01, 0x13]) }],
      ['no cipher suites', { cipherSuites: Buffer.alloc(0) }],
      ['no compression methods', { compression: Buffer.alloc(0) }],
    ];
    for (const [name, parts] of cases) {
      const result = parseClientHello(inRecord(buildHello(parts)));
      t.equal(result.kind, 'invalid', `${name}: ${result.kind === 'invalid' ? result.reason : result.kind}`);
    }
  });

  t.test('body shorter than its fixed fields', async (t) => {
    for (let cut = 1; cut < 45; cut++) {
      const message = buildHello({});
      const body = message.subarray(4, message.length - cut);
      const short = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 0xff]), body]);
      t.equal(parseClientHello(inRecord(short)).kind, 'invalid', `cut ${cut}`);
    }
  });

  t.test('64 KiB cap, over several records (issue 13)', async (t) => {
    t.equal(MAX_CLIENT_HELLO_BYTES, 65536);
    const message = (extra: number): Buffer => buildHello({ extensions: [sniExt('a.b'), ext(21, Buffer.alloc(extra))] });
    // A hello too big for one record is split into 16 KiB records, as OpenSSL does.
    const framed = (extra: number): Buffer => reframe(inRecord(message(extra)), 16384);
    for (const size of [20 * 1024, 40 * 1024]) {
      const hello = framed(size);
      const result = ok(parseClientHello(hello));
      t.equal(result.serverName, 'a.b', `${hello.length}-byte hello read`);
      t.equal(result.consumed, hello.length);
    }
    // Four records of headers: the message may be MAX - 20 bytes.
    const extraAtCap = MAX_CLIENT_HELLO_BYTES - 20 - message(0).length;
    const atCap = framed(extraAtCap);
    t.equal(atCap.length, MAX_CLIENT_HELLO_BYTES);
    t.equal(ok(parseClientHello(atCap)).consumed, MAX_CLIENT_HELLO_BYTES);
    const over = framed(extraAtCap + 1);
    t.equal(parseClientHello(over).kind, 'invalid', 'one byte over');
    t.equal(parseClientHello(over.subarray(0, 9)).kind, 'invalid', 'rejected from the handshake header alone');
    // Re-framed smaller, the same message needs more bytes than the cap for its record headers.
    t.equal(parseClientHello(reframe(inRecord(message(extraAtCap)), 4096)).kind, 'invalid', 'record headers push it over');
    // A hello whose next record would end past the cap: 'invalid' as soon as that record's header arrives.
    const records = [Buffer.concat([recordHeader(0x16, 16000), Buffer.from([1, 0, 0xff, 0xd0]), Buffer.alloc(15996)])];
    for (let i = 0; i < 3; i++) records.push(Buffer.concat([recordHeader(0x16, 16000), Buffer.alloc(16000)]));
    const head = Buffer.concat(records);
    const stream = Buffer.concat([head, recordHeader(0x16, 1600), Buffer.alloc(1600)]);
    t.equal(parseClientHello(stream.subarray(0, head.length + 3)).kind, 'incomplete');
    t.equal(parseClientHello(stream.subarray(0, head.length + 5)).kind, 'invalid');
    t.equal(parseClientHello(stream.subarray(0, MAX_CLIENT_HELLO_BYTES)).kind, 'invalid');
  });
});
