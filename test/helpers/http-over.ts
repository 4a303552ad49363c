/**
 * Requests over a connection a test already holds (plain, handed over, or
 * TLS), read with Node's strict HTTP client parser: whatever the proxy
 * sends must parse as exactly the responses asked for.
 */
import http from 'node:http';
import type net from 'node:net';

export interface Sent {
  method?: string;
  path?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
}

export interface Received {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

/** Sends each request in turn on `socket` (host p.test unless given), resolving with the parsed responses; fails after `limitMs`. */
export function requestsOver(socket: net.Socket, requests: Sent[], limitMs = 10_000): Promise<Received[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  // The agent gets the socket the test opened, so the proxy's bytes on it are read by Node's parser.
  agent.createConnection = () => socket;
  const received: Received[] = [];
  const one = (sent: Sent) =>
    new Promise<void>((resolve, reject) => {
      const req = http.request({ agent, method: sent.method ?? 'GET', path: sent.path ?? '/', headers: { host: 'p.test', ...sent.headers } }, (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          received.push({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body });
          resolve();
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(sent.body);
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no complete responses within ${limitMs} ms; got ${received.length} of ${requests.length}`)), limitMs);
    requests
      .reduce((chain, sent) => chain.then(() => one(sent)), Promise.resolve())
      .then(() => {
        clearTimeout(timer);
        agent.destroy();
        resolve(received);
      }, (error: unknown) => {
        clearTimeout(timer);
        agent.destroy();
        reject(error);
      });
  });
}
