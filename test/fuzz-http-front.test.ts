// Hostile bytes at the HTTP front and the TLS peek of a live proxy: request
// lines, headers, chunked bodies and pipelining, mangled by fast-check. The
// proxy must not throw, hang or stop serving good requests, and whatever it
// forwards must be well-formed for the strict parser of the Node backend
// behind it: no parse error there, never more requests than the client sent
// request lines (a body read as a request is request smuggling), and the
// client's answer, if any, starts with a status line.
import t from 'tap';
import fc from 'fast-check';
import net from 'node:net';
import { SmartProxy, createSelfSignedCertificate } from '../ts/index.js';
import { httpGet, silentLogger, startHttpBackend } from './helpers/backends.js';
import { getFreePort } from './helpers/free-port.js';

const runs = Number(process.env.FUZZ_RUNS ?? 150);

/** Sends the chunks and resolves with whatever came back before the connection was torn down. */
function send(port: number, chunks: Buffer[]): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.on('error', () => resolve(reply));
    socket.on('close', () => resolve(reply));
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
      // Half-close, then give the proxy a moment to answer before tearing down.
      setTimeout(() => socket.destroy(), 50);
    });
  });
}

const requestParts = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'G\u0000T', 'CONNECT', 'OPTIONS', ''),
  target: fc.constantFrom('/', '/a?b=c', '*', 'http://a.test/', '/%00', '/\u00ff', ' '),
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1\u0000', ''),
  headers: fc.array(fc.tuple(fc.constantFrom('Host', 'Content-Length', 'Transfer-Encoding', 'Connection', 'Upgrade', 'X-\r', 'Expect'), fc.constantFrom('a.test', '5', '-1', 'chunked', 'chunked, identity', 'Upgrade', 'websocket', '100-continue', '\u0000', '99999999999999999999', 'Content-Length', 'Transfer-Encoding', 'Host', 'chunked, chunked', '5, 5')), { maxLength: 6 }),
  body: fc.constantFrom('', 'hello', '5\r\nhello\r\n0\r\n\r\n', 'zz\r\n', '0\r\n\r\nGET / HTTP/1.1\r\nHost: a.test\r\n\r\n'),
  split: fc.integer({ min: 1, max: 7 }),
  /** Mostly routable, so the mangled parts reach the backend's strict parser. */
  host: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
});

t.test('the HTTP front survives mangled requests and keeps serving', async (t) => {
  const backend = await startHttpBackend('app');
  // The backend is Node's http server with its default strict parser; a parse error there means the proxy forwarded bytes it should have refused.
  const backendErrors: string[] = [];
  backend.server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => {
    if (error.code !== 'ECONNRESET') backendErrors.push(`${error.code ?? ''} ${error.message}`);
    socket.destroy();
  });
  const port = await getFreePort();
  const certificate = createSelfSignedCertificate({ domains: ['a.test'] });
  const proxy = new SmartProxy({
    host: '127.0.0.1',
    logger: await silentLogger(),
    timeouts: { clientHelloMs: 200, headersMs: 500 },
    routes: [
      { name: 'http', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port } } },
      { name: 'tls', match: { ports: port, domains: 'a.test' }, action: { type: 'forward', target: { host: '127.0.0.1', port: backend.port }, tls: { mode: 'terminate', certificate } } },
    ],
  });
  await proxy.start();
  t.teardown(async () => {
    await proxy.stop({ drainTimeoutMs: 100 });
    await backend.close();
  });
  await fc.assert(
    fc.asyncProperty(requestParts, async (parts) => {
      const text = `${parts.method} ${parts.target} ${parts.version}\r\n${parts.host ? 'Host: a.test\r\n' : ''}${parts.headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${parts.body}`;
      const bytes = Buffer.from(text, 'latin1');
      const size = Math.ceil(bytes.length / parts.split);
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      const before = backend.requests;
      backendErrors.length = 0;
      const reply = await send(port, chunks);
      const requestLines = text.match(/ HTTP\/\d\.\d\S*\r?\n/g)?.length ?? 0;
      const problem =
        backendErrors.length > 0 ? `the backend's strict parser failed: ${backendErrors.join('; ')}`
        : backend.requests - before > requestLines ? `the backend saw ${backend.requests - before} requests for ${requestLines} request lines`
        : reply !== '' && !/^HTTP\/1\.[01] \d{3} /.test(reply) ? `the client got a reply that is not a response: ${JSON.stringify(reply.slice(0, 100))}`
        : undefined;
      if (problem !== undefined) throw new Error(`${problem}\n  client sent: ${JSON.stringify(text)}`);
      const good = await httpGet(port, { host: 'a.test' });
      if (good.status !== 200) throw new Error(`a good request got ${good.status} after the client sent ${JSON.stringify(text)}`);
    }),
    { numRuns: runs, seed: Number(process.env.FUZZ_SEED ?? 0x5eed12) },
  );
  await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 600 }), async (bytes) => {
    await send(port, [Buffer.from([0x16, 0x03, 0x01]), Buffer.from(bytes)]);
    return true;
  }), { numRuns: runs, seed: Number(process.env.FUZZ_SEED ?? 0x5eed12) });
  const good = await httpGet(port, { host: 'a.test' });
  t.equal(good.status, 200, `still serving after ${runs * 2} hostile connections`);
});
