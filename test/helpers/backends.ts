import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Backend {
  port: number;
  close(): Promise<void>;
}

/** An HTTP server that answers every request with JSON describing it, tagged with `name`. */
export async function startHttpBackend(name: string, handler?: http.RequestListener): Promise<Backend & { server: http.Server; requests: number }> {
  const state = { requests: 0 };
  const server = http.createServer(
    handler ??
      ((req, res) => {
        state.requests++;
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (body += chunk));
        req.on('end', () => {
          const payload = JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, body, remotePort: req.socket.remotePort });
          res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name });
          res.end(payload);
        });
      }),
  );
  await listen(server);
  return Object.assign(state, {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => closeServer(server),
  }) as Backend & { server: http.Server; requests: number };
}

/** A TCP server that echoes everything back, prefixed once with `name:` so tests see which one answered. */
export async function startEchoBackend(name: string): Promise<Backend> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.write(`${name}:`);
    socket.pipe(socket);
  });
  await listen(server);
  return { port: (server.address() as AddressInfo).port, close: () => closeServer(server) };
}

export function listen(server: net.Server, port = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    (server as http.Server).closeAllConnections?.();
    server.close(() => resolve());
  });
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

/** One request through the proxy; `host` sets the Host header. */
export function httpGet(port: number, options: { host?: string; path?: string; agent?: http.Agent; method?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        agent: options.agent ?? false,
        headers: { ...(options.host ? { host: options.host } : {}), ...options.headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Sends `data` over a raw TCP connection and collects what comes back until the server closes or `waitMs` passes. */
export function tcpExchange(port: number, data: string, waitMs = 300): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    socket.on('connect', () => socket.write(data));
    setTimeout(() => socket.end(), waitMs);
  });
}

export const silentLogger = async () => (await import('pino')).pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
