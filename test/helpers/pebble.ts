import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCertificateAuthority, createSelfSignedCertificate } from '../../ts/certificates/self-signed.js';
import { startDnsResponder, type DnsResponder } from './dns-responder.js';
import { getFreePort } from './free-port.js';

/** PebbleInstance is a running pebble ACME server bound to 127.0.0.1. */
export interface PebbleInstance {
  /** ACME directory, https://127.0.0.1:<api>/dir. */
  directoryUrl: string;
  /** PEM of the throwaway CA that signed pebble's API certificate; the ACME client must trust it. */
  caCertificate: string;
  /** Port pebble dials for HTTP-01. */
  httpPort: number;
  /** Port pebble dials for TLS-ALPN-01. */
  tlsPort: number;
  /** getRoots fetches pebble's issuing root (regenerated on every start) from the management API. */
  getRoots(): Promise<string>;
  /** freeze stops pebble with SIGSTOP: connections are accepted by the kernel, but nothing answers. */
  freeze(): void;
  /** thaw lets a frozen pebble run again (SIGCONT). */
  thaw(): void;
  /** restart kills pebble and starts a new one on the same ports: every account, order and the issuing root are gone. */
  restart(): Promise<void>;
  /** How many orders pebble has created since it started (from its log: "There are now N orders in the db"). */
  orderCount(): number;
  /** stop kills pebble and the DNS responder and removes the temp dir. */
  stop(): Promise<void>;
}

export interface StartPebbleOptions {
  httpPort: number;
  tlsPort: number;
  /** Extra environment for pebble, applied over the harness defaults. */
  env?: Record<string, string>;
}

const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 2_000;
// Enough of pebble's output to explain a failed start, without growing unbounded.
const OUTPUT_LIMIT = 16 * 1024;

const DEFAULT_ENV = {
  PEBBLE_VA_NOSLEEP: '1', // else each validation sleeps 0–15 s
  PEBBLE_WFE_NONCEREJECT: '0', // else 5 % of good nonces are rejected
  PEBBLE_AUTHZREUSE: '0', // every order must run its challenge
};

/** startPebble starts pebble with a fresh CA, free ports and a DNS responder that maps every name to 127.0.0.1. */
export async function startPebble(opts: StartPebbleOptions): Promise<PebbleInstance> {
  const binary = findOnPath('pebble');
  if (binary === undefined) {
    throw new Error('starting pebble: pebble is not on PATH; run `bash scripts/ensure-pebble.sh`');
  }
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async (): Promise<void> => {
    for (const step of cleanups.reverse()) await step().catch(() => {});
    cleanups.length = 0;
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), 'pebble-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const dns: DnsResponder = await startDnsResponder();
    cleanups.push(() => dns.close());

    const ca = createCertificateAuthority('smartproxy test pebble CA', 2);
    const server = createSelfSignedCertificate({ domains: ['localhost'], ips: ['127.0.0.1'], issuer: ca, days: 2 });
    const [apiPort, mgmtPort] = [await getFreePort(), await getFreePort()];
    const configFile = await writeConfig(dir, server, { ...opts, apiPort, mgmtPort });

    const launch = (): { child: ChildProcess; output: () => string } => {
      const child = spawn(binary, ['-config', configFile, '-dnsserver', `127.0.0.1:${dns.port}`], {
        env: { ...process.env, ...DEFAULT_ENV, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      return { child, output: captureOutput(child) };
    };
    let running = launch();
    cleanups.push(() => killChild(running.child));

    const directoryUrl = `https://127.0.0.1:${apiPort}/dir`;
    await waitUntilReady(directoryUrl, ca.cert, running.child, running.output);
    return {
      directoryUrl,
      caCertificate: ca.cert,
      httpPort: opts.httpPort,
      tlsPort: opts.tlsPort,
      getRoots: () => fetchText(`https://127.0.0.1:${mgmtPort}/roots/0`, ca.cert),
      freeze: () => void running.child.kill('SIGSTOP'),
      thaw: () => void running.child.kill('SIGCONT'),
      restart: async () => {
        await killChild(running.child);
        running = launch();
        await waitUntilReady(directoryUrl, ca.cert, running.child, running.output);
      },
      orderCount: () => {
        const counts = [...running.output().matchAll(/There are now (\d+) orders in the db/g)].map((m) => Number(m[1]));
        return counts.length === 0 ? 0 : Math.max(...counts);
      },
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

interface ConfigPorts extends StartPebbleOptions {
  apiPort: number;
  mgmtPort: number;
}

async function writeConfig(dir: string, server: { key: string; cert: string }, ports: ConfigPorts): Promise<string> {
  const certificate = join(dir, 'api-cert.pem');
  const privateKey = join(dir, 'api-key.pem');
  await writeFile(certificate, server.cert);
  await writeFile(privateKey, server.key);
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${ports.apiPort}`,
      managementListenAddress: `127.0.0.1:${ports.mgmtPort}`,
      certificate,
      privateKey,
      httpPort: ports.httpPort,
      tlsPort: ports.tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  };
  const file = join(dir, 'pebble-config.json');
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

async function waitUntilReady(url: string, ca: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`starting pebble: exited with ${child.exitCode ?? child.signalCode}; output:\n${output()}`);
    }
    try {
      await fetchText(url, ca);
      return;
    } catch (err) {
      lastError = err;
    }
    await sleep(50);
  }
  throw new Error(`starting pebble: ${url} did not answer within ${READY_TIMEOUT_MS} ms (${String(lastError)}); output:\n${output()}`);
}

function fetchText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // agent: false so no keep-alive socket outlives the request and holds the test open.
    const req = httpsGet(url, { ca, agent: false, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        if (res.statusCode === 200) resolve(body);
        else reject(new Error(`GET ${url}: status ${res.statusCode}: ${body}`));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
  });
}

function captureOutput(child: ChildProcess): () => string {
  let text = '';
  const append = (chunk: Buffer): void => {
    text = (text + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  // Both pipes must be drained, or pebble blocks once a pipe buffer fills.
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return () => text;
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGCONT'); // a frozen pebble would hold SIGTERM pending until the grace period ran out
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}
