/**
 * One proxy reached three ways, so a security or framing case is checked on
 * every HTTP engine: `fast` (plain HTTP/1.1, the fast path), `node` (the same
 * bytes after the connection was handed to Node's HTTP server, by a first
 * request the fast path does not serve) and `tls` (terminated TLS).
 * Routes on both ports, for host `p.test`: `/handover` a static answer,
 * `/admin/*` blocked, everything else forwarded to `upstreamPort`.
 */
import net from 'node:net';
import tls from 'node:tls';
import { createSelfSignedCertificate, type IRouteConfig, type ISmartProxyOptions, type SmartProxy } from '../../ts/index.js';
import { startProxy, type Teardown } from './data-path.js';
import { getFreePort } from './free-port.js';

export type Front = 'fast' | 'node' | 'tls';
export const fronts: readonly Front[] = ['fast', 'node', 'tls'];

const certificate = createSelfSignedCertificate({ domains: ['p.test'] });

/** Sent first on `node` connections: answered by a static route, which the fast path hands to Node for good. */
export const handoverRequest = 'GET /handover HTTP/1.1\r\nHost: p.test\r\n\r\n';

export interface ThreeFronts {
  proxy: SmartProxy;
  plainPort: number;
  tlsPort: number;
  /** Opens a connection on `front`, ready for raw request bytes. */
  connect(front: Front): Promise<net.Socket>;
  /**
   * Sends `bytes` on a new connection and returns what came back (the
   * handover answer of a `node` connection cut off) once the proxy closed it
   * or nothing arrived for `quietMs`.
   */
  send(front: Front, bytes: string | Buffer, quietMs?: number): Promise<string>;
  /** Points every forward route at another upstream, through updateRoutes(). */
  retarget(upstreamPort: number): Promise<void>;
}

export async function startThreeFronts(t: Teardown, upstreamPort: number, options: Partial<ISmartProxyOptions> = {}): Promise<ThreeFronts> {
  const plainPort = await getFreePort();
  const tlsPort = await getFreePort();
  const routesFor = (port: number, tlsMode: boolean, upstreamPort: number): IRouteConfig[] => {
    const tlsAction = tlsMode ? { tls: { mode: 'terminate' as const, certificate: { key: certificate.key, cert: certificate.cert } } } : {};
    return [
      { name: `handover-${port}`, match: { ports: port, domains: 'p.test', path: '/handover' }, action: { type: 'static', static: { status: 200, body: 'handover' }, ...tlsAction } },
      { name: `admin-${port}`, match: { ports: port, domains: 'p.test', path: '/admin/*' }, action: { type: 'block', ...tlsAction } },
      { name: `app-${port}`, match: { ports: port, domains: tlsMode ? 'p.test' : '*' }, action: { type: 'forward', target: { host: '127.0.0.1', port: upstreamPort }, ...tlsAction } },
    ];
  };
  const allRoutes = (upstream: number) => [...routesFor(plainPort, false, upstream), ...routesFor(tlsPort, true, upstream)];
  const proxy = await startProxy(t, allRoutes(upstreamPort), options);

  const connect = async (front: Front): Promise<net.Socket> => {
    if (front === 'tls') {
      const socket = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'p.test', rejectUnauthorized: false });
      socket.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      return socket;
    }
    const socket = net.connect({ host: '127.0.0.1', port: plainPort });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    if (front === 'node') {
      socket.write(handoverRequest);
      await readUntil(socket, 'handover');
    }
    return socket;
  };

  const send = async (front: Front, bytes: string | Buffer, quietMs = 400): Promise<string> => {
    const socket = await connect(front);
    const reply = collect(socket, quietMs);
    socket.write(bytes);
    return reply;
  };

  const retarget = (port: number) => proxy.updateRoutes(allRoutes(port));

  return { proxy, plainPort, tlsPort, connect, send, retarget };
}

/** Resolves once `text` has arrived on the socket (what came with it is dropped). */
export function readUntil(socket: net.Socket, text: string, limitMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no ${JSON.stringify(text)} within ${limitMs} ms; got ${JSON.stringify(seen)}`)), limitMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (!seen.includes(text)) return;
      clearTimeout(timer);
      socket.off('data', onData);
      resolve();
    };
    socket.on('data', onData);
  });
}

/**
 * What arrives until the socket closes or stays quiet for `quietMs` after
 * the last byte; the socket is destroyed after. Until a first byte comes
 * the wait is at least `firstByteMs`, so a loaded machine does not end a
 * reply before it began.
 */
export function collect(socket: net.Socket, quietMs: number, firstByteMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    let timer = setTimeout(finish, Math.max(quietMs, firstByteMs));
    function finish() {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.destroy();
      resolve(received);
    }
    function onData(chunk: Buffer) {
      received += chunk.toString('latin1');
      clearTimeout(timer);
      timer = setTimeout(finish, quietMs);
    }
    socket.on('data', onData);
    socket.once('close', finish);
  });
}
