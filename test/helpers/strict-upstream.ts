/**
 * Upstreams that judge what the proxy sends: a Node HTTP server with its
 * default strict parser, recording every request it parsed and every parse
 * error; and a raw TCP server that answers each request with bytes a test
 * chooses, for responses no real server would write.
 */
import http from 'node:http';
import net from 'node:net';
import { serve, trackSockets, type Teardown } from './data-path.js';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

export async function startStrictUpstream(t: Teardown) {
  const seen: SeenRequest[] = [];
  const parseErrors: string[] = [];
  const server = trackSockets(
    http.createServer((req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body });
        res.end(`answer for ${req.url}`);
      });
    }),
  );
  server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => {
    parseErrors.push(`${error.code ?? ''} ${error.message}`);
    socket.destroy();
  });
  const served = await serve(t, server);
  return Object.assign(served, { seen, parseErrors, urls: () => seen.map((r) => r.url) });
}

/**
 * A raw upstream answering the n-th request head it reads with `answers(n)`
 * (the request's body, if any, is not waited for). A function lets each
 * answer carry a marker, so a test can tell which request it belongs to.
 */
export async function startRawUpstream(t: Teardown, answers: (n: number) => string | Buffer) {
  let count = 0;
  const server = trackSockets(
    net.createServer((socket) => {
      socket.on('error', () => socket.destroy());
      let buffered = '';
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
          buffered = buffered.slice(end + 4);
          socket.write(answers(count++));
        }
      });
    }),
  );
  const served = await serve(t, server);
  return Object.assign(served, { requests: () => count });
}
