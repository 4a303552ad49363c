import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { SmartProxy, type ISmartProxyOptions, type IRouteConfig } from '../../ts/index.js';
import { parseClientHello } from '../../ts/proxy/tls/client-hello.js';
import { closeServer, listen, silentLogger } from './backends.js';

/** The bits of a tap test these helpers use (teardown), so they work with any tap version's types. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/** Starts a proxy on 127.0.0.1 with a silent logger, stopped at teardown. */
export async function startProxy(t: Teardown, routes: IRouteConfig[], options: Partial<ISmartProxyOptions> = {}): Promise<SmartProxy> {
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), ...options, routes });
  await proxy.start();
  t.teardown(() => proxy.stop({ drainTimeoutMs: 200 }));
  return proxy;
}

/** A server closed at teardown (every open connection included). */
export async function serve<S extends net.Server>(t: Teardown, server: S, host = '127.0.0.1', port = 0): Promise<S & { port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  t.teardown(() => closeAll(server));
  return Object.assign(server, { port: (server.address() as AddressInfo).port });
}

function closeAll(server: net.Server): Promise<void> {
  const sockets = openSockets.get(server);
  for (const socket of sockets ?? []) socket.destroy();
  return closeServer(server);
}

const openSockets = new WeakMap<net.Server, Set<net.Socket>>();

/** Keeps track of a server's sockets so teardown can destroy raw TCP and TLS ones too. */
export function trackSockets<S extends net.Server>(server: S): S & { sockets: Set<net.Socket> } {
  const sockets = new Set<net.Socket>();
  openSockets.set(server, sockets);
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return Object.assign(server, { sockets });
}

/** A TLS server that answers every connection with `name:` and echoes what it receives. */
export async function startTlsEcho(t: Teardown, name: string, certificate: { key: string; cert: string }) {
  const server = trackSockets(
    tls.createServer({ key: certificate.key, cert: certificate.cert }, (socket) => {
      socket.on('error', () => socket.destroy());
      socket.write(`${name}:`);
      socket.pipe(socket);
    }),
  );
  return serve(t, server);
}

/** A raw TCP server that records every byte each connection sends and never answers. */
export async function startRecorder(t: Teardown) {
  const received: Buffer[][] = [];
  const server = trackSockets(
    net.createServer((socket) => {
      const chunks: Buffer[] = [];
      received.push(chunks);
      socket.on('error', () => socket.destroy());
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    }),
  );
  const served = await serve(t, server);
  return Object.assign(served, { received });
}

export interface TlsResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Subject CN of the certificate the proxy presented. */
  subject: string | undefined;
  alpn: string | false | null;
}

/** One HTTPS request to 127.0.0.1:port with the given SNI (and Host, default the SNI); trusts `ca`. */
export function httpsGet(
  port: number,
  options: { servername: string; host?: string; path?: string; ca?: string | string[]; method?: string; headers?: http.OutgoingHttpHeaders; body?: string; agent?: https.Agent },
): Promise<TlsResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        servername: options.servername,
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        agent: options.agent ?? false,
        ca: options.ca,
        rejectUnauthorized: options.ca !== undefined,
        headers: { host: options.host ?? options.servername, ...options.headers },
      },
      (res) => {
        const socket = res.socket as tls.TLSSocket;
        const subject = socket.getPeerCertificate().subject?.CN;
        const alpn = socket.alpnProtocol;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, subject: typeof subject === 'string' ? subject : undefined, alpn }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Opens TLS to 127.0.0.1:port with SNI, resolves once the handshake is done. */
export async function tlsConnect(port: number, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
  await once(socket, 'secureConnect');
  return socket;
}

/** Writes `data` and collects the reply until `expected` bytes have arrived (or the peer closes). */
export function exchange(socket: net.Socket, data: string | Buffer, expected: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const onData = (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.length >= expected) finish();
    };
    const finish = () => {
      socket.off('data', onData);
      socket.off('close', finish);
      socket.off('error', reject);
      resolve(received);
    };
    socket.on('data', onData);
    socket.once('close', finish);
    socket.once('error', reject);
    socket.write(data);
  });
}

/** Resolves when the socket has closed, with whatever it received before. */
export function closed(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    if (socket.destroyed) return resolve(received);
    socket.once('close', () => resolve(received));
  });
}

/** A raw TCP connection to 127.0.0.1:port, connected. */
export async function rawConnect(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 10 ms until it holds; gives up after `limitMs` so a hung test fails instead of waiting for tap's timeout. */
export async function eventually(check: () => boolean | Promise<boolean>, limitMs = 5000): Promise<boolean> {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    if (await check()) return true;
    await delay(10);
  }
  return check();
}

/** A plain HTTP backend that records requests and hands each to `handler`. */
export async function startHttpServer(t: Teardown, handler: http.RequestListener) {
  const server = trackSockets(http.createServer(handler));
  return serve(t, server);
}

/** Captures the bytes of a real ClientHello for `servername` from Node's TLS client. */
export async function captureClientHello(servername: string, alpn?: string[]): Promise<Buffer> {
  const capture = net.createServer();
  await listen(capture);
  const port = (capture.address() as AddressInfo).port;
  const hello = new Promise<Buffer>((resolve) => {
    capture.once('connection', (socket) => {
      socket.on('error', () => undefined);
      let bytes = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        bytes = Buffer.concat([bytes, chunk]);
        if (parseClientHello(bytes).kind === 'incomplete') return;
        resolve(bytes);
        socket.destroy();
      });
    });
  });
  const client = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ...(alpn ? { ALPNProtocols: alpn } : {}) });
  client.on('error', () => undefined);
  const bytes = await hello;
  client.destroy();
  await closeServer(capture);
  return bytes;
}
