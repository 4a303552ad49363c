/**
 * Request smuggling through the proxy, judged by a strict upstream.
 *
 * A proxy and the server behind it must agree on where each request ends.
 * When they do not — a framing header dropped as "hop-by-hop" because
 * `Connection:` named it, a duplicate `Content-Length` or `Transfer-Encoding`
 * relayed as is, a chunk extension or trailer the upstream reads differently,
 * a bare LF — the rest of one request's body becomes a second request on the
 * pooled upstream connection: unrouted (a `block` route never sees it),
 * its response handed to whoever uses that connection next.
 *
 * fast-check builds client messages from small pieces (methods, target forms,
 * HTTP/1.1 and 1.0, a dictionary of headers including `Connection: <tokens>`
 * naming framing, Host and other headers, odd `Content-Length` and
 * `Transfer-Encoding`, `Expect`, `Upgrade`, chunk extensions, trailers,
 * bodies that are themselves requests for `/admin/...` or `/smuggled`,
 * pipelining, bare LF) and sends them over plain TCP (fast path and the
 * hand-over to Node's parser) and over TLS to a terminate route. The upstream
 * is Node's http.createServer with its default strict parser. For every case:
 *  - the upstream saw no parse error (`clientError`);
 *  - it never saw `/admin…` or `/smuggled…` as a request (only as body bytes);
 *  - it saw no more requests than the client framed, each with one Host and
 *    our own X-Forwarded-For, and no Host or X-Forwarded-* smuggled in trailers;
 *  - the client got an answer (or a close) without waiting for a timeout, and
 *    what it got reads as one framed response per request, in order;
 *  - afterwards fresh requests on both engines (and TLS) get their own answers.
 * A second property sends pipelines of well-formed messages (the first often
 * handed to Node's parser, and answered late by the upstream), where every
 * response must come back whole and in order (an interim `100 Continue` for a
 * later request written inside an earlier response splits it).
 *
 * Bounded for `npm test`: fixed seed, FUZZ_RUNS (default 200) cases and a
 * quarter as many pipelines.
 * FUZZ_SEED tries another seed; FUZZ_SHRINK=1 shrinks a failure (slower).
 */
import t from 'tap';
import fc from 'fast-check';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { createSelfSignedCertificate } from '../ts/index.js';
import { serve, startProxy, trackSockets, type Teardown } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';

const runs = Number(process.env.FUZZ_RUNS ?? 200);
const seed = Number(process.env.FUZZ_SEED ?? 0x5eed10);
/** A case is over once the proxy has been quiet this long after answering. */
const quietMs = 60;
/** Longest wait for the proxy's first byte (or close); a complete request is never left waiting for a timeout. */
const answerMs = 1500;

// ---------------------------------------------------------------------------
// Client messages from building blocks.

const smuggle = (path: string) => `GET ${path} HTTP/1.1\r\nHost: a.test\r\n\r\n`;

const framings = ['none', 'cl', 'cl-dup', 'cl-list', 'cl-plus', 'cl+te', 'chunked', 'chunked-upper', 'chunked-twice', 'chunked-list', 'gzip-chunked', 'te-not-chunked'] as const;
type FramingKind = (typeof framings)[number];

/**
 * Messages with mostly ordinary pieces, so that one odd piece at a time gets through to the upstream: `weight` to 1 for the
 * common value of each piece. Wild messages (3) mix many odd pieces; plain ones (15) are nearly well-formed, so that
 * pipelined ones are forwarded side by side.
 */
const messageWith = (weight: number) => {
  const usually = <T,>(common: T, ...odd: T[]) => fc.oneof({ weight, arbitrary: fc.constant(common) }, { weight: 1, arbitrary: fc.constantFrom(...odd) });
  return fc.record({
    method: fc.constantFrom('GET', 'POST', 'HEAD', 'DELETE', 'OPTIONS', 'PUT'),
    target: usually('/p', '/p?q=1', 'http://a.test/p', 'http://b.test/p', '/admin/x', '*'),
    // HTTP/1.0 and Expect hand a connection to Node's parser: kept frequent whatever the weight, so both engines get pipelines.
    version: fc.oneof({ weight: 3, arbitrary: fc.constant('HTTP/1.1') }, { weight: 1, arbitrary: fc.constant('HTTP/1.0') }),
    host: usually('a.test', 'b.test', 'none', 'two'),
    connection: usually<string | undefined>(undefined, 'close', 'keep-alive', 'Content-Length', 'Transfer-Encoding', 'Host', 'X-Forwarded-For', 'Expect', 'te', 'close, Content-Length', 'keep-alive, Transfer-Encoding', 'content-length, host', 'upgrade'),
    expect: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    upgrade: usually('none', 'header', 'header+connection'),
    xff: usually(false, true),
    body: fc.constantFrom('', 'hello', smuggle('/smuggled'), smuggle('/admin/x')),
    framing: fc.oneof({ weight: weight + 1, arbitrary: fc.constantFrom<FramingKind>('none', 'cl', 'chunked') }, { weight: 3, arbitrary: fc.constantFrom(...framings) }),
    /** `;<20000 x>` stands for a 20 000-byte extension (past Node's limit), kept short in fast-check's report. */
    extension: usually('', ';a=b', ' xyz', ';a="b', ';<20000 x>'),
    trailer: usually('', 'X-T: 1\r\n', 'Content-Length: 5\r\n', 'GET /smuggled HTTP/1.1\r\n', 'X-Forwarded-For: 6.6.6.6\r\n', 'Host: evil.test\r\n'),
    bareLf: fc.oneof({ weight: weight * 3, arbitrary: fc.constant('none') }, { weight: 1, arbitrary: fc.constantFrom('all', 'one') }),
  });
};
const message = fc.oneof(messageWith(3), messageWith(15));
type Message = typeof message extends fc.Arbitrary<infer M> ? M : never;

const chunkedKinds: ReadonlySet<FramingKind> = new Set(['cl+te', 'chunked', 'chunked-upper', 'chunked-twice', 'chunked-list', 'gzip-chunked', 'te-not-chunked']);

/** The bytes of one message. A body is sent only with framing, so every generated byte belongs to a message the client framed. */
function render(m: Message): string {
  const lines = [`${m.method} ${m.target} ${m.version}`];
  if (m.host !== 'none') lines.push(`Host: ${m.host === 'two' ? 'a.test' : m.host}`);
  if (m.host === 'two') lines.push('Host: b.test');
  if (m.connection !== undefined) lines.push(`Connection: ${m.connection}`);
  if (m.expect) lines.push('Expect: 100-continue');
  if (m.upgrade !== 'none') lines.push('Upgrade: foo');
  if (m.upgrade === 'header+connection') lines.push('Connection: upgrade');
  if (m.xff) lines.push('X-Forwarded-For: 6.6.6.6');
  const framing = m.framing;
  let body = '';
  if (framing !== 'none') {
    const length = Buffer.byteLength(m.body, 'latin1');
    if (chunkedKinds.has(framing)) {
      const extension = m.extension === ';<20000 x>' ? ';' + 'x'.repeat(20_000) : m.extension;
      body = `${length > 0 ? `${length.toString(16)}${extension}\r\n${m.body}\r\n` : ''}0\r\n${m.trailer}\r\n`;
      if (framing === 'cl+te') lines.push(`Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
      if (framing === 'chunked-twice') lines.push('Transfer-Encoding: chunked');
      const te = { 'chunked-upper': 'Chunked', 'chunked-list': 'chunked, chunked', 'gzip-chunked': 'gzip, chunked', 'te-not-chunked': 'chunked, identity' }[framing as string] ?? 'chunked';
      lines.push(`Transfer-Encoding: ${te}`);
    } else {
      body = m.body;
      if (framing === 'cl') lines.push(`Content-Length: ${length}`);
      if (framing === 'cl-dup') lines.push(`Content-Length: ${length}`, `Content-Length: ${length}`);
      if (framing === 'cl-list') lines.push(`Content-Length: ${length}, ${length}`);
      if (framing === 'cl-plus') lines.push(`Content-Length: +${length}`);
    }
  }
  let head = lines.map((line) => line + '\r\n').join('') + '\r\n';
  if (m.bareLf === 'all') head = head.replaceAll('\r\n', '\n');
  if (m.bareLf === 'one') head = head.replace('\r\n', '\n');
  return head + body;
}

const scenario = fc.record({
  tls: fc.boolean(),
  messages: fc.oneof({ weight: 2, arbitrary: fc.array(message, { minLength: 1, maxLength: 1 }) }, { weight: 1, arbitrary: fc.array(message, { minLength: 2, maxLength: 3 }) }),
  /** Where the bytes are cut into separate writes, as fractions of the whole. */
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 2 }),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never;

/** Pipelines of well-formed messages (HTTP/1.0 and Expect included), the first answered late: responses must come back whole and in order. */
const pipeline = fc
  .record({
    tls: fc.boolean(),
    messages: fc.array(messageWith(1000), { minLength: 2, maxLength: 3 }),
    cuts: fc.constant([] as number[]),
    /** How the first message starts the connection: often handed to Node's parser, which then reads the pipelined ones at once. */
    first: fc.constantFrom('as generated', 'expect', 'http/1.0 keep-alive'),
  })
  .map(({ first, messages, ...rest }): Scenario => {
    const [head, ...tail] = messages;
    const opened: Message = first === 'expect' ? { ...head!, expect: true } : first === 'as generated' ? head! : { ...head!, version: 'HTTP/1.0', connection: 'keep-alive' };
    return { ...rest, messages: [opened, ...tail] };
  });

// ---------------------------------------------------------------------------
// The strict upstream.

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  trailers: Record<string, string | undefined> | undefined;
  upgrade: boolean;
  /** The upstream wrote its answer (`ok <url>`). */
  answered: boolean;
}

function startStrictUpstream(t: Teardown) {
  const state = { seen: [] as Seen[], clientErrors: [] as string[], slowFirst: false };
  const server = trackSockets(http.createServer());
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const entry: Seen = { method: req.method!, url: req.url!, headers: req.headers, trailers: undefined, upgrade: false, answered: false };
    // A case's first request is answered late, so requests pipelined behind it are answered first and their responses wait in the proxy.
    const delay = state.slowFirst ? 40 : 0;
    state.slowFirst = false;
    state.seen.push(entry);
    req.on('data', () => undefined);
    req.on('end', () => {
      entry.trailers = req.trailers;
      setTimeout(() => res.end(`ok ${req.url}`, () => (entry.answered = true)), delay);
    });
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    state.seen.push({ method: req.method!, url: req.url!, headers: req.headers, trailers: undefined, upgrade: true, answered: false });
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => {
    // Parse errors only. A connection cut mid-message (EOF state, reset, EPIPE) is the proxy aborting a request it found
    // malformed partway, as when a client goes away; the upstream never misread a byte.
    if (error.code?.startsWith('HPE_') === true && error.code !== 'HPE_INVALID_EOF_STATE') state.clientErrors.push(`${error.code} ${error.message}`);
    socket.destroy();
  });
  return serve(t, server).then((s) => Object.assign(state, { port: s.port }));
}

// ---------------------------------------------------------------------------
// Sending a case and checking the proxy afterwards.

interface Reply {
  bytes: string;
  answered: boolean;
  closed: boolean;
}

/**
 * Sends the chunks; the reply is what came back until the proxy closed, or was quiet for quietMs once at least `minMs`
 * passed and `settled(reply)` holds (or answerMs passed: a loaded machine may be slow, but not that slow).
 */
function sendCase(port: number, useTls: boolean, chunks: Buffer[], minMs: number, settled: (reply: string) => boolean): Promise<Reply> {
  const start = Date.now();
  const until = start + minMs;
  return new Promise((resolve) => {
    const socket: net.Socket = useTls ? tls.connect({ host: '127.0.0.1', port, servername: 'a.test', rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
    let bytes = '';
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.destroy();
      resolve({ bytes, answered, closed });
    };
    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => (answered && !settled(bytes) && Date.now() - start < answerMs ? arm(quietMs) : finish(false)), ms);
    };
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.toString('latin1');
      answered = true;
      arm(Math.max(quietMs, until - Date.now()));
    });
    socket.once(useTls ? 'secureConnect' : 'connect', async () => {
      for (const chunk of chunks) {
        socket.write(chunk);
        await new Promise((r) => setImmediate(r));
      }
      if (!answered) arm(answerMs);
    });
  });
}

function get(port: number, path: string, options: { tls?: boolean; headers?: http.OutgoingHttpHeaders } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = options.tls
      ? https.request({ host: '127.0.0.1', port, path, servername: 'a.test', rejectUnauthorized: false, agent: false, headers: { host: 'a.test', ...options.headers } })
      : http.request({ host: '127.0.0.1', port, path, agent: false, headers: { host: 'a.test', ...options.headers } });
    request.setTimeout(3000, () => request.destroy(new Error('no answer within 3 s')));
    request.on('response', (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

let checks = 0;
/** Fresh well-formed requests on the fast path, the Node path (Expect hands it over) and TLS each get their own answer. */
async function stillServing(plain: number, secure: number): Promise<string | undefined> {
  const probes: [string, () => Promise<{ status: number; body: string }>, string][] = [];
  for (const [engine, port, options] of [
    ['fast path', plain, {}],
    ['handed-over', plain, { headers: { expect: '100-continue' } }],
    ['TLS', secure, { tls: true }],
  ] as const) {
    const path = `/check/${++checks}`;
    probes.push([engine, () => get(port, path, options), path]);
  }
  for (const [engine, probe, path] of probes) {
    try {
      const { status, body } = await probe();
      if (status !== 200 || body !== `ok ${path}`) return `${engine} check ${path} got ${status} ${JSON.stringify(body.slice(0, 200))}`;
    } catch (error) {
      return `${engine} check ${path} failed: ${(error as Error).message}`;
    }
  }
  return undefined;
}

function cutInto(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].filter((p) => p > 0 && p < bytes.length).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) chunks.push(bytes.subarray(from, p)), (from = p);
  chunks.push(bytes.subarray(from));
  return chunks;
}

const statusLine = /^HTTP\/1\.[01] ([1-5]\d\d) [\t\x20-\x7e\x80-\xff]*$/;
const fieldLine = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t ]*([\t\x20-\x7e\x80-\xff]*)$/;

/**
 * Reads what the client got as a strict client would (RFC 9112): a sequence
 * of responses, in order, one per request it sent (1xx interim ones aside),
 * each framed: no body for HEAD, 204 and 304; one Content-Length or chunked;
 * no chunked to an HTTP/1.0 request. The capture may stop mid-response (a cut
 * connection), but every byte up to there must be where a strict parser
 * expects it. Returns what is wrong, or undefined.
 */
function readResponses(reply: string, messages: Message[]): string | undefined {
  let pos = 0;
  let index = 0;
  while (pos < reply.length) {
    const end = reply.indexOf('\r\n\r\n', pos);
    if (end === -1) return 'HTTP/1.'.startsWith(reply.slice(pos, pos + 7)) || reply.startsWith('HTTP/1.', pos) ? undefined : `bytes that are not a response: ${JSON.stringify(reply.slice(pos, pos + 80))}`;
    const lines = reply.slice(pos, end).split('\r\n');
    const status = statusLine.exec(lines[0]!);
    if (status === null) return `bytes that are not a response: ${JSON.stringify(reply.slice(pos, pos + 80))}`;
    let length: string | undefined;
    let chunked = false;
    let close = false;
    for (const line of lines.slice(1)) {
      const field = fieldLine.exec(line);
      if (field === null) return `a malformed header line ${JSON.stringify(line)}`;
      const name = field[1]!.toLowerCase();
      if (name === 'content-length') {
        if (length !== undefined || !/^\d+$/.test(field[2]!.trim())) return `Content-Length ${JSON.stringify(field[2])} after ${JSON.stringify(length)}`;
        length = field[2]!.trim();
      }
      if (name === 'transfer-encoding') chunked = /(?:^|,)\s*chunked\s*$/i.test(field[2]!);
      if (name === 'connection') close ||= /(?:^|,)\s*close\s*(?:,|$)/i.test(field[2]!);
    }
    if (chunked && length !== undefined) return 'a response with both Content-Length and chunked';
    pos = end + 4;
    const code = Number(status[1]);
    if (code === 101) return undefined;
    if (code < 200) continue;
    const message = messages[index++];
    if (message === undefined) return `more responses than the ${messages.length} requests sent`;
    if (chunked && message.version === 'HTTP/1.0') return 'a chunked response to an HTTP/1.0 request';
    if (message.method === 'HEAD' || code === 204 || code === 304) {
      // no body
    } else if (chunked) {
      for (;;) {
        const line = reply.indexOf('\r\n', pos);
        if (line === -1) return undefined;
        const size = /^([0-9a-fA-F]+)$/.exec(reply.slice(pos, line));
        if (size === null) return `a malformed chunk size ${JSON.stringify(reply.slice(pos, line))}`;
        const n = parseInt(size[1]!, 16);
        pos = line + 2;
        if (n === 0) {
          const trailerEnd = reply.indexOf('\r\n\r\n', pos - 2);
          if (trailerEnd === -1) return undefined;
          pos = trailerEnd + 4;
          break;
        }
        if (reply.length < pos + n + 2) return undefined;
        if (reply.slice(pos + n, pos + n + 2) !== '\r\n') return 'chunk data not followed by CRLF';
        pos += n + 2;
      }
    } else if (length !== undefined) {
      pos += Number(length);
    } else {
      return undefined; // Until the connection closes.
    }
    // After `Connection: close` a client reads nothing more: stray bytes are harmless, but not a whole second response.
    if (close) return reply.includes('HTTP/1.', pos) ? `a second response after one with Connection: close: ${JSON.stringify(reply.slice(pos, pos + 80))}` : undefined;
  }
  return undefined;
}

const forwardedNames = ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'host'];

/** What went wrong in one case, or undefined. */
/** Answers with a body the upstream wrote, and how many of them the client got. */
const written = (seen: Seen[]) => seen.filter((r) => r.answered && r.method !== 'HEAD').length;
const relayed = (reply: string) => reply.split('\r\n\r\nok ').length - 1;

/** What went wrong in one case, or undefined; `complete`: every message is well-formed, so every answer the upstream wrote must reach the client. */
function judge(s: Scenario, upstream: { seen: Seen[]; clientErrors: string[] }, reply: Reply, complete: boolean): string | undefined {
  if (upstream.clientErrors.length > 0) return `the upstream's strict parser failed: ${upstream.clientErrors.join('; ')}`;
  const smuggled = upstream.seen.find((r) => /^(?:https?:\/\/[^/]*)?\/(?:admin|smuggled)/i.test(r.url));
  if (smuggled !== undefined) return `the upstream saw ${smuggled.method} ${smuggled.url} as a request`;
  if (upstream.seen.length > s.messages.length) return `the upstream saw ${upstream.seen.length} requests (${upstream.seen.map((r) => `${r.method} ${r.url}`).join(', ')}) for ${s.messages.length} framed by the client`;
  for (const r of upstream.seen) {
    if (typeof r.headers.host !== 'string' || r.headers.host === '') return `the upstream got ${r.method} ${r.url} without a Host`;
    if (r.headers['x-forwarded-for'] !== '127.0.0.1') return `the upstream got X-Forwarded-For ${JSON.stringify(r.headers['x-forwarded-for'])}, not the proxy's own`;
    const forged = Object.keys(r.trailers ?? {}).find((name) => forwardedNames.includes(name));
    if (forged !== undefined) return `the upstream got a ${forged} trailer from the client`;
  }
  if (!reply.answered && !reply.closed) return `no answer and no close within ${answerMs} ms for a complete request`;
  const framing = readResponses(reply.bytes, s.messages);
  if (framing !== undefined) return `the client got ${framing}`;
  if (complete && relayed(reply.bytes) < written(upstream.seen)) return `the upstream answered ${written(upstream.seen)} requests but the client got ${relayed(reply.bytes)} of those answers`;
  return undefined;
}

/** A strict upstream behind a proxy with a block route, checked once; `check` runs one case and throws what went wrong. */
async function fuzzBench(t: Teardown) {
  const upstream = await startStrictUpstream(t);
  const plain = await getFreePort();
  const secure = await getFreePort();
  const certificate = createSelfSignedCertificate({ domains: ['a.test'] });
  const target = { host: '127.0.0.1', port: upstream.port };
  await startProxy(
    t,
    [
      { name: 'admin', priority: 10, match: { ports: plain, path: '/admin/*' }, action: { type: 'block' } },
      { name: 'named', match: { ports: plain, domains: 'a.test' }, action: { type: 'forward', target } },
      { name: 'any', match: { ports: plain, domains: '*' }, action: { type: 'forward', target } },
      { name: 'tls-admin', priority: 10, match: { ports: secure, domains: 'a.test', path: '/admin/*' }, action: { type: 'block', tls: { mode: 'terminate', certificate } } },
      { name: 'tls', match: { ports: secure, domains: 'a.test' }, action: { type: 'forward', target, tls: { mode: 'terminate', certificate } } },
    ],
    { timeouts: { headersMs: 5000, upstreamResponseMs: 5000 } },
  );

  // The oracle's premises: /admin/* is blocked on both fronts, and checks pass on a fresh proxy.
  const premises = [(await get(plain, '/admin/x')).status, (await get(secure, '/admin/x', { tls: true })).status, await stillServing(plain, secure)];
  if (premises[0] !== 403 || premises[1] !== 403 || premises[2] !== undefined) throw new Error(`the bench is not as the oracle assumes: ${JSON.stringify(premises)}`);

  const bench = { cases: 0, check };
  async function check(s: Scenario, complete: boolean): Promise<void> {
    bench.cases++;
    upstream.seen.length = 0;
    upstream.clientErrors.length = 0;
    upstream.slowFirst = s.messages.length > 1;
    const bytes = Buffer.from(s.messages.map(render).join(''), 'latin1');
    // A late first answer must be waited for: the ones pipelined behind it come after it.
    const reply = await sendCase(s.tls ? secure : plain, s.tls, cutInto(bytes, s.cuts), upstream.slowFirst ? 100 : 0, (got) => relayed(got) >= written(upstream.seen));
    upstream.slowFirst = false;
    const problem = judge(s, upstream, reply, complete) ?? (await stillServing(plain, secure));
    if (problem !== undefined) {
      const shown = bytes.length > 600 ? bytes.toString('latin1').replace(/x{100,}/g, (x) => `<${x.length} x>`) : bytes.toString('latin1');
      throw new Error(`${problem}\n  front: ${s.tls ? 'TLS terminate' : 'plain'}\n  client sent: ${JSON.stringify(shown)}\n  client got: ${JSON.stringify(reply.bytes.slice(0, 400))}`);
    }
  }
  return bench;
}

const settings = { seed, endOnFailure: process.env.FUZZ_SHRINK === undefined, interruptAfterTimeLimit: 120_000 };

t.test('no generated client message desyncs a strict upstream', async (t) => {
  const bench = await fuzzBench(t);
  await fc.assert(fc.asyncProperty(scenario, (s) => bench.check(s, false)), { ...settings, numRuns: runs });
  t.pass(`${bench.cases} generated cases, seed ${seed}`);
});

t.test('pipelined well-formed requests get whole responses, in order', async (t) => {
  const bench = await fuzzBench(t);
  await fc.assert(fc.asyncProperty(pipeline, (s) => bench.check(s, true)), { ...settings, numRuns: Math.ceil(runs / 4) });
  t.pass(`${bench.cases} generated pipelines, seed ${seed}`);
});
