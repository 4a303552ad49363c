// The fast path's own HTTP/1.1 head parser and chunked scanner: strict,
// split-proof, and handing anything unusual to Node's parser.
import t from 'tap';
import { ChunkedScanner, chunkedError } from '../ts/proxy/fast/chunked-scanner.js';
import { listsToken, parseRequestHead, parseResponseHead, trimOws } from '../ts/proxy/fast/head-parser.js';

const body = '5\r\nhello\r\n6;name=value\r\n world\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer-One: 1\r\n\r\n';
const normalised = '5\r\nhello\r\n6\r\n world\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n';

t.test('the chunked scanner finds the end of a body split at every byte boundary, and not a byte later', async (t) => {
  const bytes = Buffer.from(body + 'GET /next HTTP/1.1\r\n', 'latin1');
  const end = Buffer.byteLength(body);
  for (let split = 0; split <= bytes.length; split++) {
    const s = new ChunkedScanner();
    const out: Buffer[] = [];
    const first = s.scan(bytes, 0, split, out);
    const found = first !== -1 ? first : s.scan(bytes, split, bytes.length, out);
    if (found !== end) t.fail(`split at ${split}: ended at ${found}, expected ${end}`);
    if (Buffer.concat(out).toString('latin1') !== normalised) t.fail(`split at ${split}: passed on ${JSON.stringify(Buffer.concat(out).toString('latin1'))}`);
  }
  // One byte at a time.
  const s = new ChunkedScanner();
  const out: Buffer[] = [];
  let found = -1;
  for (let i = 0; i < bytes.length && found === -1; i++) found = s.scan(bytes, i, i + 1, out);
  t.equal(found, end);
  t.ok(s.done);
  t.equal(Buffer.concat(out).toString('latin1'), normalised, 'extensions and trailers are left out, the rest passes as sent');
});

t.test('a body with nothing to leave out passes on as the very same buffer', async (t) => {
  const bytes = Buffer.from('5\r\nhello\r\n0\r\n\r\n', 'latin1');
  const out: Buffer[] = [];
  t.equal(new ChunkedScanner().scan(bytes, 0, bytes.length, out), bytes.length);
  t.equal(out.length, 1);
  t.equal(out[0], bytes, 'no copy');
});

t.test('chunk extensions are checked against the grammar before they are dropped', async (t) => {
  const good = ['5;a\r\n', '5;a=b\r\n', '5 ;a=b\r\n', '5;a="b c"\r\n', '5;a="b\\"c"\r\n', '5;a=b;c\r\n', '5;a = "x" ;b\r\n'];
  for (const line of good) {
    const bytes = Buffer.from(`${line}hello\r\n0\r\n\r\n`, 'latin1');
    const out: Buffer[] = [];
    t.equal(new ChunkedScanner().scan(bytes, 0, bytes.length, out), bytes.length, JSON.stringify(line));
    t.equal(Buffer.concat(out).toString('latin1'), '5\r\nhello\r\n0\r\n\r\n', `${JSON.stringify(line)} normalised`);
  }
  const bad = ['5 xyz\r\n', '5;a="b\r\n', '5;\r\n', '5;=b\r\n', '5 \r\n', '5;a=\r\n', '5;a b\r\n', `5;a=${'x'.repeat(5000)}\r\n`];
  for (const line of bad) {
    const bytes = Buffer.from(`${line}hello\r\n0\r\n\r\n`, 'latin1');
    t.equal(new ChunkedScanner().scan(bytes, 0, bytes.length, []), chunkedError, JSON.stringify(line.slice(0, 20)));
  }
});

t.test('trailers must be field lines, and are never passed on', async (t) => {
  for (const trailer of ['GET /admin HTTP/1.1\r\n', ': x\r\n', 'X-A : 1\r\n', `X-A: ${'a'.repeat(17_000)}\r\n`]) {
    const bytes = Buffer.from(`0\r\n${trailer}\r\n`, 'latin1');
    t.equal(new ChunkedScanner().scan(bytes, 0, bytes.length, []), chunkedError, JSON.stringify(trailer.slice(0, 20)));
  }
  const bytes = Buffer.from('0\r\nHost: evil\r\nX-Forwarded-For: 1.2.3.4\r\nContent-Length: 5\r\n\r\n', 'latin1');
  const out: Buffer[] = [];
  t.equal(new ChunkedScanner().scan(bytes, 0, bytes.length, out), bytes.length);
  t.equal(Buffer.concat(out).toString('latin1'), '0\r\n\r\n');
});

t.test('the chunked scanner refuses malformed framing', async (t) => {
  for (const bad of ['x\r\n', '\r\n', '5\nhello\r\n', '5\r\nhelloX\r\n', '5\r\nhello\r\n0\r\n\n', '12345678901234\r\n', '5;\u0001\r\n', '0\r\nBad\u0000: x\r\n\r\n']) {
    const s = new ChunkedScanner();
    t.equal(s.scan(Buffer.from(bad, 'latin1'), 0, bad.length, []), chunkedError, JSON.stringify(bad));
  }
});

const ok = (head: string) => parseRequestHead(Buffer.from(head, 'latin1'), 0, 16384);

t.test('an ordinary request head is parsed with its framing', async (t) => {
  const head = ok('POST /a?b HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nConnection: keep-alive, close\r\n\r\nabc');
  t.not(typeof head, 'string');
  if (typeof head === 'string') return;
  t.equal(head.method, 'POST');
  t.equal(head.target, '/a?b');
  t.equal(head.host, 'a.test');
  t.same(head.framing, { kind: 'length', length: 3 });
  t.equal(head.close, true);
  t.equal(head.size, 'POST /a?b HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nConnection: keep-alive, close\r\n\r\n'.length, 'the head ends before the body');
  const chunked = ok('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n');
  t.same(typeof chunked === 'string' ? chunked : chunked.framing, { kind: 'chunked' });
  const empty = ok('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n');
  t.same(typeof empty === 'string' ? empty : empty.framing, { kind: 'length', length: 0 }, 'a Content-Length of 0 is kept');
  t.equal(ok('GET / HTTP/1.1\r\nHost: a'), 'incomplete');
});

t.test('anything unusual is handed to Node: smuggling shapes, obs-fold, bare CR/LF, odd versions and methods', async (t) => {
  const cases: Record<string, string> = {
    'CL and TE': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n',
    'differing CLs': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n',
    'CL not a number': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n',
    'TE not ending in chunked': 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n',
    'TE with another coding (501)': 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
    'chunked twice in one line': 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n',
    'chunked twice in two lines': 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
    'equal CLs': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n',
    'bare LF, head not ended by CRLFCRLF': 'GET / HTTP/1.1\nHost: a\n\n',
    'two Hosts': 'GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n',
    'obs-fold': 'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n',
    'bare LF': 'GET / HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n',
    'bare CR': 'GET / HTTP/1.1\r\nHost: a\rX-A: 1\r\n\r\n',
    'space before colon': 'GET / HTTP/1.1\r\nHost : a\r\n\r\n',
    'control in value': 'GET / HTTP/1.1\r\nHost: a\r\nX-A: \u0000\r\n\r\n',
    'bad token': 'GET / HTTP/1.1\r\nHo(st: a\r\n\r\n',
    'HTTP/1.0': 'GET / HTTP/1.0\r\nHost: a\r\n\r\n',
    'CONNECT': 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n',
    'Upgrade': 'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    'Expect': 'PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n',
    'non-ASCII target': 'GET /\u00ff HTTP/1.1\r\nHost: a\r\n\r\n',
    'leading empty line': '\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n',
  };
  for (const [name, head] of Object.entries(cases)) t.equal(ok(head), 'handover', name);
  t.equal(parseRequestHead(Buffer.from('GET / HTTP/1.1\r\nX: ' + 'a'.repeat(100)), 0, 64), 'handover', 'over maxHeaderBytes (Node answers 431)');
});

t.test('response heads: framing, close, and refusals', async (t) => {
  const parse = (head: string) => parseResponseHead(Buffer.from(head, 'latin1'), 0, 65536);
  const a = parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  t.ok(typeof a !== 'string' && a.contentLength === 2 && !a.close && a.size === 38);
  const b = parse('HTTP/1.0 200 OK\r\n\r\n');
  t.ok(typeof b !== 'string' && b.close, 'HTTP/1.0 closes unless it says keep-alive');
  const c = parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n');
  t.ok(typeof c !== 'string' && !c.close);
  const d = parse('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n');
  t.ok(typeof d !== 'string' && d.close);
  t.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n'), 'invalid');
  t.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n'), 'invalid');
  t.equal(parse('HTTP/1.1 2000 OK\r\n\r\n'), 'invalid');
  t.equal(parse('HTTP/1.1 099 Weird\r\nContent-Length: 2\r\n\r\n'), 'invalid', 'status below 100');
  t.equal(parse('HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\n'), 'invalid', 'status above 599');
  t.equal(parse('HTTP/1.1 200 O\u0001K\r\nContent-Length: 2\r\n\r\n'), 'invalid', 'control byte in the reason');
  t.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n'), 'invalid', 'equal CLs');
  t.equal(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n'), 'invalid', 'chunked twice');
  t.equal(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'), 'invalid', 'chunked not last');
  t.equal(parse('HTTP/1.1 200 OK\nContent-Length: 2\n\nok'), 'invalid', 'bare LF is refused at once, not waited on');
  const gz = parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n');
  t.ok(typeof gz !== 'string' && gz.chunked && gz.codings.join() === 'gzip', 'other codings are kept in front of chunked');
  t.equal(parse('HTTP/1.1 200 OK\r\nX: 1\r\n folded\r\n\r\n'), 'invalid');
  t.equal(parse('HTTP/1.1 200 OK\r\nX'), 'incomplete');
});

t.test('in decode mode the chunked scanner hands on the data only, split at every byte boundary, and keeps the trailers', async (t) => {
  const bytes = Buffer.from(body + 'GET /next HTTP/1.1\r\n', 'latin1');
  const end = Buffer.byteLength(body);
  const data = 'hello worldabcdefghijklmnopqrstuvwxyz';
  for (let split = 0; split <= bytes.length; split++) {
    const s = new ChunkedScanner(true);
    const out: Buffer[] = [];
    const first = s.scan(bytes, 0, split, out);
    const found = first !== -1 ? first : s.scan(bytes, split, bytes.length, out);
    if (found !== end) t.fail(`split at ${split}: ended at ${found}, expected ${end}`);
    if (Buffer.concat(out).toString('latin1') !== data) t.fail(`split at ${split}: decoded ${JSON.stringify(Buffer.concat(out).toString('latin1'))}`);
    if (s.trailers.join('|') !== 'Trailer-One|1') t.fail(`split at ${split}: trailers ${JSON.stringify(s.trailers)}`);
  }
  const s = new ChunkedScanner(true);
  const out: Buffer[] = [];
  let found = -1;
  for (let i = 0; i < bytes.length && found === -1; i++) found = s.scan(bytes, i, i + 1, out);
  t.equal(found, end);
  t.ok(s.done);
  t.equal(Buffer.concat(out).toString('latin1'), data, 'one byte at a time');
  t.same(s.trailers, ['Trailer-One', '1']);
  s.reset();
  t.same(s.trailers, [], 'reset forgets the trailers');
});

t.test('decode mode: binary data passes byte-exact, several trailers are kept with OWS trimmed', async (t) => {
  const payload = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const framed = Buffer.concat([Buffer.from('100;x="y"\r\n', 'latin1'), payload, Buffer.from('\r\n0\r\nA: 1 \r\nB:\t two\r\n\r\n', 'latin1')]);
  const s = new ChunkedScanner(true);
  const out: Buffer[] = [];
  t.equal(s.scan(framed, 0, framed.length, out), framed.length);
  t.ok(Buffer.concat(out).equals(payload), 'the data, byte-exact');
  t.same(s.trailers, ['A', '1', 'B', 'two']);
});

t.test('decode mode is as strict as relay mode', async (t) => {
  const bad = ['x\r\n', '\r\n', '5\nhello\r\n', '5\r\nhelloX\r\n', '5\r\nhello\r\n0\r\n\n', '12345678901234\r\n', '5;\u0001\r\n', '0\r\nBad\u0000: x\r\n\r\n', '5 xyz\r\nhello\r\n0\r\n\r\n', '5;=b\r\nhello\r\n0\r\n\r\n', '0\r\nGET /admin HTTP/1.1\r\n\r\n', '0\r\n: x\r\n\r\n', `0\r\nX-A: ${'a'.repeat(17_000)}\r\n\r\n`];
  for (const text of bad) {
    const bytes = Buffer.from(text, 'latin1');
    // Fed whole and one byte at a time, as an upstream's bytes may arrive.
    t.equal(new ChunkedScanner(true).scan(bytes, 0, bytes.length, []), chunkedError, JSON.stringify(text.slice(0, 20)));
    const s = new ChunkedScanner(true);
    let found = -1;
    for (let i = 0; i < bytes.length && found === -1; i++) found = s.scan(bytes, i, i + 1, []);
    t.equal(found, chunkedError, `${JSON.stringify(text.slice(0, 20))} byte by byte`);
  }
});

t.test('Connection tokens and field-value whitespace, as the head parsers read them', async (t) => {
  for (const [list, token, want] of [
    ['close', 'close', true],
    [' close ', 'close', true],
    ['keep-alive, close', 'close', true],
    ['keep-alive,\tclose\t,te', 'close', true],
    ['closed', 'close', false],
    ['x-close', 'close', false],
    ['close-ish, keep-alive', 'close', false],
    ['foo, keep-alive', 'keep-alive', true],
    ['', 'close', false],
  ] as const) {
    t.equal(listsToken(list, token), want, `${JSON.stringify(list)} lists ${token}: ${want}`);
  }
  t.equal(trimOws('Name: \t value \t', 5), 'value');
  t.equal(trimOws('Name:', 5), '');
  t.equal(trimOws('Name:  a b  ', 5), 'a b', 'inner spaces stay');
});
