/**
 * Response splitting and proxy crashes from a hostile or broken upstream.
 *
 * Whatever an upstream answers, the proxy must hand its client either a
 * response a strict parser reads cleanly (a 502 when it cannot relay one) or
 * a cut connection. A response relayed unframed or mis-framed — a framing
 * header dropped because `Connection:` named it, a `Content-Length` shorter
 * than the bytes that follow, bytes after a bodiless response — lets the
 * upstream write the *next* response on that connection (or on a pooled
 * upstream connection shared with other clients), and a status line or
 * reason phrase the proxy's own HTTP server refuses to write must not throw
 * out of a request handler and take the whole process down.
 *
 * fast-check builds upstream responses: status codes 000–999, reason phrases
 * missing, empty, with control bytes or obs-text, HTTP/1.0 and 1.1, interim
 * 1xx responses first, framing (none, Content-Length right/short/long/
 * duplicate/non-digit, chunked right/extended/malformed/with trailers, both),
 * `Connection` values (close, keep-alive, content-length, transfer-encoding,
 * garbage), bare LF, head and body written in one piece or two. The client asks over
 * plain TCP and TLS (terminate), on the fast path and handed over to Node
 * (`Expect: 100-continue`, HTTP/1.0). The proxy runs in a child process. For
 * every case:
 *  - the proxy process is still running;
 *  - Node's strict HTTP client parses the answer without a parse error (any
 *    status, 502 included), or the connection was cut;
 *  - the answer carries no bytes from past the upstream's Content-Length and
 *    no chunked framing towards an HTTP/1.0 client;
 *  - a follow-up request on the same client connection (through the same
 *    pooled upstream) gets its own response, marked with its own id.
 *
 * Bounded for `npm test`: fixed seed, FUZZ_RUNS (default 160) cases.
 * FUZZ_SEED tries another seed; FUZZ_SHRINK=1 shrinks a failure (slower).
 */
import t from 'tap';
import fc from 'fast-check';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { createSelfSignedCertificate } from '../ts/index.js';
import { serve, trackSockets } from './helpers/data-path.js';
import { getFreePort } from './helpers/free-port.js';
import { startProxyProcess } from './helpers/proxy-process.js';

const runs = Number(process.env.FUZZ_RUNS ?? 160);
const seed = Number(process.env.FUZZ_SEED ?? 0x5eed11);

// ---------------------------------------------------------------------------
// Upstream responses from building blocks.

const usually = <T,>(common: T, ...odd: T[]) => fc.oneof({ weight: 3, arbitrary: fc.constant(common) }, { weight: 1, arbitrary: fc.constantFrom(...odd) });

const framings = ['none', 'cl', 'cl-short', 'cl-long', 'cl-dup', 'cl-dup-diff', 'cl-list', 'cl-plus', 'cl-hex', 'chunked', 'chunked-ext', 'chunked-trailer', 'chunked-bad-size', 'chunked-no-crlf', 'te+cl', 'te-twice', 'te-identity'] as const;
type Framing = (typeof framings)[number];

const response = fc.record({
  version: usually('HTTP/1.1', 'HTTP/1.0'),
  status: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(200, 201, 204, 304, 404, 500, 502) },
    { weight: 1, arbitrary: fc.constantFrom(0, 1, 99, 100, 101, 103, 199, 600, 999) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 999 }) },
  ),
  reason: usually<string | undefined>('OK', '', undefined, 'Weird', 'a\x01b', 'a\x7fb', 'caf\xe9', 'a\tb'),
  interim: fc.oneof(
    { weight: 4, arbitrary: fc.constant([] as string[]) },
    { weight: 1, arbitrary: fc.array(fc.constantFrom('HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n', 'HTTP/1.1 102 Processing\r\n\r\n'), { minLength: 1, maxLength: 2 }) },
  ),
  connection: usually<string | undefined>(undefined, 'close', 'keep-alive', 'content-length', 'Transfer-Encoding', 'content-length, close', 'keep-alive, transfer-encoding', 'x-garbage', 'te, trailer'),
  framing: fc.oneof({ weight: 3, arbitrary: fc.constantFrom<Framing>('cl', 'chunked') }, { weight: 2, arbitrary: fc.constantFrom(...framings) }),
  bareLf: fc.oneof({ weight: 8, arbitrary: fc.constant('none') }, { weight: 1, arbitrary: fc.constantFrom('all', 'one') }),
  /** Head and body in two writes, so a proxy reading by packets sees the body late. */
  split: fc.boolean(),
  closeAfter: usually(false, true),
});
type Response = typeof response extends fc.Arbitrary<infer R> ? R : never;

/** Framings after which the upstream cannot keep the connection: the proxy would wait for bytes that never come. */
const mustClose: ReadonlySet<Framing> = new Set(['none', 'cl-long', 'chunked-bad-size', 'chunked-no-crlf']);

/** The response's bytes as [head, body]; `marker` is in the body, `[stray…]` in bytes past a short Content-Length. */
function render(r: Response, marker: string, id: number): [string, string] {
  const lines = [r.reason === undefined ? `${r.version} ${String(r.status).padStart(3, '0')}` : `${r.version} ${String(r.status).padStart(3, '0')} ${r.reason}`];
  lines.push('Content-Type: text/plain');
  if (r.connection !== undefined) lines.push(`Connection: ${r.connection}`);
  const n = marker.length;
  let body = marker;
  const chunked = (ext = '', trailer = '') => `${n.toString(16)}${ext}\r\n${marker}\r\n0\r\n${trailer}\r\n`;
  switch (r.framing) {
    case 'none':
      break;
    case 'cl':
      lines.push(`Content-Length: ${n}`);
      break;
    case 'cl-short':
      lines.push(`Content-Length: ${n}`);
      body = `${marker}[stray${id}]`;
      break;
    case 'cl-long':
      lines.push(`Content-Length: ${n + 10}`);
      break;
    case 'cl-dup':
      lines.push(`Content-Length: ${n}`, `Content-Length: ${n}`);
      break;
    case 'cl-dup-diff':
      lines.push(`Content-Length: ${n}`, `Content-Length: ${n + 1}`);
      break;
    case 'cl-list':
      lines.push(`Content-Length: ${n}, ${n}`);
      break;
    case 'cl-plus':
      lines.push(`Content-Length: +${n}`);
      break;
    case 'cl-hex':
      lines.push(`Content-Length: 0x${n.toString(16)}`);
      break;
    case 'chunked':
      lines.push('Transfer-Encoding: chunked');
      body = chunked();
      break;
    case 'chunked-ext':
      lines.push('Transfer-Encoding: chunked');
      body = chunked(';a=b');
      break;
    case 'chunked-trailer':
      lines.push('Transfer-Encoding: chunked');
      body = chunked('', 'X-T: 1\r\n');
      break;
    case 'chunked-bad-size':
      lines.push('Transfer-Encoding: chunked');
      body = `zz\r\n${marker}\r\n0\r\n\r\n`;
      break;
    case 'chunked-no-crlf':
      lines.push('Transfer-Encoding: chunked');
      body = `${n.toString(16)}\r\n${marker}0\r\n\r\n`;
      break;
    case 'te+cl':
      lines.push('Transfer-Encoding: chunked', `Content-Length: ${n}`);
      body = chunked();
      break;
    case 'te-twice':
      lines.push('Transfer-Encoding: chunked', 'Transfer-Encoding: chunked');
      body = chunked();
      break;
    case 'te-identity':
      lines.push('Transfer-Encoding: identity');
      break;
  }
  let head = lines.map((line) => line + '\r\n').join('') + '\r\n';
  if (r.bareLf === 'all') head = head.replaceAll('\r\n', '\n');
  if (r.bareLf === 'one') head = head.replace('\r\n', '\n');
  return [r.interim.join('') + head, body];
}

const scenario = fc.record({
  response,
  tls: fc.boolean(),
  client: fc.constantFrom('fast', 'expect', 'http/1.0'),
  method: usually('GET', 'HEAD'),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never;

// ---------------------------------------------------------------------------
// The upstream: `/r/<id>` gets case <id>'s response, `/good/<id>` a well-formed one.

function startUpstream(t: Parameters<typeof serve>[0], cases: Map<number, Response>) {
  const server = trackSockets(
    net.createServer((socket) => {
      socket.on('error', () => undefined);
      let buf = '';
      socket.on('data', (chunk: Buffer) => {
        buf += chunk.toString('latin1');
        for (let end = buf.indexOf('\r\n\r\n'); end !== -1; end = buf.indexOf('\r\n\r\n')) {
          const head = buf.slice(0, end);
          buf = buf.slice(end + 4);
          const [method = '', url = ''] = head.split('\r\n')[0]!.split(' ');
          answer(socket, method, url);
        }
      });
    }),
  );
  const answer = (socket: net.Socket, method: string, url: string) => {
    const good = /^\/good\/(\d+)$/.exec(url);
    const id = Number(/^\/r\/(\d+)$/.exec(url)?.[1] ?? -1);
    const spec = cases.get(id);
    if (good !== null || spec === undefined) {
      const marker = good === null ? '[unknown]' : `[good${good[1]}]`;
      return void socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${marker.length}\r\n\r\n${marker}`);
    }
    const [head, body] = render(spec, `[m${id}]`, id);
    // Body bytes after a bodiless response are split off only when they may be a body: bytes that come late
    // after a complete response cannot be told from the answer to the next request on that connection.
    const bodiless = method === 'HEAD' || spec.status < 200 || spec.status === 204 || spec.status === 304;
    if (spec.split && !bodiless) {
      socket.write(head);
      setTimeout(() => finish(socket, spec, body), 5);
    } else finish(socket, spec, head + body);
  };
  const finish = (socket: net.Socket, spec: Response, bytes: string) => {
    if (socket.destroyed) return;
    if (spec.closeAfter || mustClose.has(spec.framing)) socket.end(bytes, 'latin1');
    else socket.write(bytes, 'latin1');
  };
  return serve(t, server);
}

// ---------------------------------------------------------------------------
// The client: Node's strict parser, directly or on bytes replayed to it.

interface Outcome {
  status?: number;
  body?: string;
  headers?: http.IncomingHttpHeaders;
  error?: string;
  code?: string;
}

function collect(request: http.ClientRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    request.setTimeout(4000, () => request.destroy(Object.assign(new Error('no answer within 4 s'), { code: 'TIMEOUT' })));
    request.on('response', (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body, headers: res.headers }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ status: res.statusCode, body, error: e.message, code: e.code }));
      res.on('aborted', () => resolve({ status: res.statusCode, body, error: 'aborted', code: 'ECONNRESET' }));
    });
    request.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.message, code: e.code }));
    request.end();
  });
}

/** Node's http client, against a server that plays back `bytes` and closes. */
async function parseReplayed(replay: net.Server & { port: number; next: string[] }, bytes: string, method: string): Promise<Outcome> {
  replay.next.push(bytes);
  return collect(http.request({ host: '127.0.0.1', port: replay.port, method, path: '/', agent: false }));
}

/** One raw HTTP/1.0 exchange: every byte until the proxy closes (it must, for 1.0 without keep-alive). */
function rawHttp10(port: number, useTls: boolean, method: string, path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket: net.Socket = useTls ? tls.connect({ host: '127.0.0.1', port, servername: 'a.test', rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
    let bytes = '';
    const timer = setTimeout(() => socket.destroy(), 4000);
    socket.on('error', () => undefined);
    socket.on('data', (c: Buffer) => (bytes += c.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(bytes);
    });
    socket.once(useTls ? 'secureConnect' : 'connect', () => socket.write(`${method} ${path} HTTP/1.0\r\nHost: a.test\r\n\r\n`));
  });
}

/** Gives a crashed proxy process time to be reported as exited, so a refused connection is not blamed on anything else. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

const cut = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

t.test('no generated upstream response crashes the proxy or desyncs a strict client', async (t) => {
  const cases = new Map<number, Response>();
  const upstream = await startUpstream(t, cases);
  const replay = Object.assign(
    trackSockets(
      net.createServer((socket) => {
        socket.on('error', () => undefined);
        socket.once('data', () => socket.end(replay.next.shift() ?? '', 'latin1'));
      }),
    ),
    { next: [] as string[] },
  );
  const replayed = Object.assign(await serve(t, replay), { next: replay.next });
  const plain = await getFreePort();
  const secure = await getFreePort();
  const certificate = createSelfSignedCertificate({ domains: ['a.test'] });
  const target = { host: '127.0.0.1', port: upstream.port };
  const proxy = await startProxyProcess(
    t,
    [
      { name: 'plain', match: { ports: plain, domains: 'a.test' }, action: { type: 'forward', target } },
      { name: 'tls', match: { ports: secure, domains: 'a.test' }, action: { type: 'forward', target, tls: { mode: 'terminate', certificate } } },
    ],
    { timeouts: { upstreamResponseMs: 1000, headersMs: 2000 } },
  );

  let id = 0;
  let follow = 0;
  const run = async (s: Scenario): Promise<string | undefined> => {
    const caseId = ++id;
    cases.set(caseId, s.response);
    const port = s.tls ? secure : plain;
    const agent = s.tls ? new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false, servername: 'a.test' }) : new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const request = (path: string, method: string, headers: http.OutgoingHttpHeaders = {}) =>
        collect((s.tls ? https : http).request({ host: '127.0.0.1', port, path, method, agent, headers: { host: 'a.test', ...headers } }));
      let first: Outcome;
      if (s.client === 'http/1.0') {
        const bytes = await rawHttp10(port, s.tls, s.method, `/r/${caseId}`);
        if (/^HTTP\/1\.[01] \d{3}[^\n]*\n(?:[^\n]+\n)*?transfer-encoding:/i.test(bytes)) return `an HTTP/1.0 client got a Transfer-Encoding response: ${JSON.stringify(bytes.slice(0, 300))}`;
        first = bytes === '' ? { error: 'closed', code: 'ECONNRESET' } : await parseReplayed(replayed, bytes, s.method);
        if (first.code !== undefined && first.code.startsWith('HPE_')) return `Node's client cannot parse what an HTTP/1.0 client got (${first.code}): ${JSON.stringify(bytes.slice(0, 300))}`;
      } else {
        first = await request(`/r/${caseId}`, s.method, s.client === 'expect' ? { expect: '100-continue' } : {});
      }
      if (first.code !== undefined) await settle();
      if (proxy.exited() !== undefined) return proxy.exited();
      if (first.code === 'TIMEOUT') return 'no answer within 4 s';
      if (first.code !== undefined && !cut.has(first.code) && first.error !== 'closed') return `the client's strict parser failed: ${first.code} ${first.error}`;
      if (first.body?.includes('[stray')) return `the answer carried bytes past the upstream's Content-Length: ${JSON.stringify(first.body)}`;
      if (first.body !== undefined && /\[good\d+\]/.test(first.body)) return `the answer carried another response's body: ${JSON.stringify(first.body)}`;
      // The follow-up: same agent, so the same client connection when it was kept; a fresh one otherwise.
      const n = ++follow;
      let second = await request(`/good/${n}`, 'GET');
      if (second.code !== undefined && cut.has(second.code)) second = await request(`/good/${n}`, 'GET');
      if (second.code !== undefined) await settle();
      if (proxy.exited() !== undefined) return proxy.exited();
      if (second.status !== 200 || second.body !== `[good${n}]`) return `the follow-up request got ${second.status ?? second.code} ${JSON.stringify(second.body ?? second.error)} instead of its own answer [good${n}]`;
      return undefined;
    } finally {
      agent.destroy();
      cases.delete(caseId);
    }
  };

  let count = 0;
  await fc.assert(
    fc.asyncProperty(scenario, async (s) => {
      count++;
      const problem = await run(s);
      if (problem === undefined) return;
      const [head, body] = render(s.response, '[mN]', 0);
      throw new Error(`${problem}\n  front: ${s.tls ? `TLS terminate (${s.client} client)` : s.client === 'fast' ? 'plain, fast path' : `plain, handed over (${s.client})`}, ${s.method}\n  upstream sent: ${JSON.stringify(head + body)}${s.response.split ? ' (head and body in two writes)' : ''}`);
    }),
    { numRuns: runs, seed, endOnFailure: process.env.FUZZ_SHRINK === undefined, interruptAfterTimeLimit: 120_000 },
  );
  t.equal(proxy.exited(), undefined, 'the proxy process is still running');
  t.pass(`${count} generated responses, seed ${seed}`);
});
