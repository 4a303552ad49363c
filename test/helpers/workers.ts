/**
 * Helpers for tests of the `workers` option: a proxy with worker processes
 * that is stopped at teardown (and whose workers are checked gone), the
 * per-worker counters, and the processes a pid has started.
 */
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { SmartProxy, type IRouteConfig, type ISmartProxyOptions, type IWorkerMetrics } from '../../ts/index.js';
import { silentLogger } from './backends.js';
import { eventually, type Teardown } from './data-path.js';

/** Starts a proxy with two workers (unless told otherwise) on 127.0.0.1; stopped at teardown, every worker killed if stop() did not end it. */
export async function startWorkerProxy(t: Teardown, routes: IRouteConfig[], options: Partial<ISmartProxyOptions> = {}): Promise<SmartProxy> {
  const proxy = new SmartProxy({ host: '127.0.0.1', logger: await silentLogger(), workers: 2, ...options, routes });
  await proxy.start();
  t.teardown(async () => {
    const pids = workerPids(process.pid);
    await proxy.stop({ drainTimeoutMs: 200 });
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  return proxy;
}

/** The live workers' counters, once every worker has reported at least `minConnections` in total. */
export async function workerCounters(proxy: SmartProxy, minConnections = 0, limitMs = 5000): Promise<IWorkerMetrics[]> {
  await eventually(() => {
    const workers = proxy.getMetrics().workers ?? [];
    return workers.reduce((sum, w) => sum + w.totalConnections, 0) >= minConnections;
  }, limitMs);
  return proxy.getMetrics().workers ?? [];
}

/** Connections each worker pid accepted between two readings. */
export function servedBetween(before: IWorkerMetrics[], after: IWorkerMetrics[]): Map<number, number> {
  const served = new Map<number, number>();
  for (const w of after) served.set(w.pid, w.totalConnections - (before.find((b) => b.pid === w.pid)?.totalConnections ?? 0));
  return served;
}

/** Pids of the live processes whose parent is `parent`, read from /proc. */
export function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (after the ')' that closes the command name) is the parent pid.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === parent && fields[0] !== 'Z') pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** The worker processes among a pid's children (their command line names the worker entry). */
export function workerPids(parent: number): number[] {
  return childPids(parent).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker-main');
    } catch {
      return false;
    }
  });
}

export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Whether this Node can bind with SO_REUSEPORT (22.12+ / 23.1+ on Linux): needed to play another program holding a port that way. */
export function reusePortSupported(version = process.versions.node, platform = process.platform): boolean {
  if (platform !== 'linux') return false;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** One GET (Host w.test) on a new connection; resolves to the status, 0 on a connection error. */
export function getStatus(port: number, path = '/'): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host: 'w.test' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
  });
}
