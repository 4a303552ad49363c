import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { IAcmeOptions, IRouteConfig } from '../../ts/index.js';
import { getFreePort } from './free-port.js';
import { startPebble, type PebbleInstance } from './pebble.js';

type Teardown = { teardown(fn: () => unknown): void };

export interface AcmeEnv {
  pebble: PebbleInstance;
  /** The port pebble dials for HTTP-01: the proxy's acme.port. */
  httpPort: number;
  /** The port pebble dials for TLS-ALPN-01: a TLS port of the proxy. */
  tlsPort: number;
  storeDir: string;
  acme(extra?: Partial<IAcmeOptions>): IAcmeOptions;
}

/** Pebble on free ports plus a temporary certificate store, all removed at teardown. */
export async function startAcmeEnv(t: Teardown, ports: { httpPort?: number; tlsPort?: number; env?: Record<string, string> } = {}): Promise<AcmeEnv> {
  const httpPort = ports.httpPort ?? (await getFreePort());
  const tlsPort = ports.tlsPort ?? (await getFreePort());
  const pebble = await startPebble({ httpPort, tlsPort, env: ports.env });
  t.teardown(() => pebble.stop());
  const storeDir = await mkdtemp(join(tmpdir(), 'smartproxy-certs-'));
  t.teardown(() => rm(storeDir, { recursive: true, force: true }));
  return {
    pebble,
    httpPort,
    tlsPort,
    storeDir,
    acme: (extra = {}) => ({
      email: 'test@example.com',
      directoryUrl: pebble.directoryUrl,
      caCertificates: pebble.caCertificate,
      port: httpPort,
      skipChallengeVerification: true,
      pollIntervalMs: 100,
      certificateStore: storeDir,
      ...extra,
    }),
  };
}

/** Connects with TLS and returns the leaf the server presented, and whether it verified against `ca`. */
export function fetchCertificate(port: number, servername: string, ca: string): Promise<{ leaf: X509Certificate; authorized: boolean; error?: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca, rejectUnauthorized: false }, () => {
      const peer = socket.getPeerX509Certificate();
      socket.end();
      if (peer === undefined) return reject(new Error('no certificate'));
      resolve({ leaf: peer, authorized: socket.authorized, error: socket.authorizationError?.toString() });
    });
    socket.on('error', reject);
  });
}

export function once<T>(emitter: { once(event: string, fn: (value: T) => void): unknown }, event: string, timeoutMs = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (value: T) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** A route that terminates TLS for `domains` on `port` with an ACME certificate and forwards to a local backend. */
export function autoRoute(port: number, domains: string | string[], backendPort: number, name = typeof domains === 'string' ? domains : 'auto'): IRouteConfig {
  return { name, match: { ports: port, domains }, action: { type: 'forward', target: { host: '127.0.0.1', port: backendPort }, tls: { mode: 'terminate', certificate: 'auto' } } };
}
