// Fleet instances as child processes (redis-proxy-child.ts), with their
// events, for the shared-store tests.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { IRouteConfig } from '../../ts/index.js';
import type { RedisChildConfig } from './redis-proxy-child.js';

export interface ChildEvent {
  event: string;
  domain?: string;
  port?: number;
  message?: string;
  line?: { msg?: string; domain?: string; level?: number };
}

export interface Instance {
  events: ChildEvent[];
  /** Applies these routes (resolves once applied). */
  setRoutes(routes: IRouteConfig[]): Promise<void>;
  signal(signal: NodeJS.Signals): void;
  /** Obtains the name's certificate again now (a renewal). */
  renew(domain: string): void;
  exited: Promise<unknown>;
  /** The first event (seen already, from index `after`, or to come) that `match` accepts. */
  waitFor(match: (e: ChildEvent) => boolean, timeoutMs?: number, after?: number): Promise<ChildEvent>;
  /** Log lines whose message matches. */
  logs(pattern: RegExp, domain?: string): ChildEvent[];
}

export function startInstance(t: { teardown(fn: () => unknown): void }, config: RedisChildConfig): Instance {
  const script = join(import.meta.dirname, 'redis-proxy-child.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(async () => {
    child.kill('SIGCONT');
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  });
  const events: ChildEvent[] = [];
  const waiters = new Set<(e: ChildEvent) => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line) as ChildEvent;
    events.push(event);
    for (const waiter of waiters) waiter(event);
  });
  const waitFor = (match: (e: ChildEvent) => boolean, timeoutMs = 60_000, after = 0): Promise<ChildEvent> =>
    new Promise((resolve, reject) => {
      const seen = events.slice(after).find(match);
      if (seen !== undefined) return resolve(seen);
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no matching event within ${timeoutMs} ms; got ${events.filter((e) => e.event !== 'log').map((e) => `${e.event} ${e.domain ?? e.port ?? ''}`).join(', ')}`));
      }, timeoutMs);
      const waiter = (event: ChildEvent) => {
        if (!match(event)) return;
        clearTimeout(timer);
        waiters.delete(waiter);
        resolve(event);
      };
      waiters.add(waiter);
    });
  return {
    events,
    exited,
    signal: (signal) => void child.kill(signal),
    renew: (domain) => void child.stdin.write(`${JSON.stringify({ renew: domain })}\n`),
    setRoutes: async (routes) => {
      const from = events.length;
      child.stdin.write(`${JSON.stringify(routes)}\n`);
      const outcome = await waitFor((e) => e.event === 'routes-applied' || e.event === 'routes-failed', 30_000, from);
      if (outcome.event === 'routes-failed') throw new Error(outcome.message);
    },
    waitFor,
    logs: (pattern, domain) => events.filter((e) => e.event === 'log' && pattern.test(e.line?.msg ?? '') && (domain === undefined || e.line?.domain === domain)),
  };
}

export const issued = (domain: string) => (e: ChildEvent) => (e.event === 'certificate-issued' || e.event === 'certificate-failed') && e.domain === domain;
export const logged = (pattern: RegExp, domain?: string) => (e: ChildEvent) => e.event === 'log' && pattern.test(e.line?.msg ?? '') && (domain === undefined || e.line?.domain === domain);
