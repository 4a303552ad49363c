/**
 * Active health checks of a route's targets: an HTTP GET (2xx or 3xx is
 * healthy) for HTTP routes, a TCP connect for the rest, every `intervalMs`
 * per target. A target turns unhealthy after `unhealthyThreshold` failed
 * checks in a row and healthy again after `healthyThreshold` passed ones;
 * every change is logged. Timers are unref'd and all cleared by stop().
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Logger } from 'pino';
import type { IHealthCheck } from '../../routing/types.js';
import type { Upstream } from './upstream.js';

/** Defaults of `loadBalancing.healthCheck`'s fields. */
export const healthCheckDefaults = Object.freeze({ path: '/', intervalMs: 5000, timeoutMs: 2000, unhealthyThreshold: 3, healthyThreshold: 2 });

export interface HealthTarget {
  readonly upstream: Upstream;
  /** The port checked (a `'preserve'` target is checked on the route's first port). */
  readonly port: number;
}

export class HealthChecker {
  readonly #options: Required<IHealthCheck>;
  readonly #http: boolean;
  readonly #logger: Logger;
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopped = false;

  constructor(options: IHealthCheck, targets: readonly HealthTarget[], http: boolean, logger: Logger) {
    this.#options = { ...healthCheckDefaults, ...options };
    this.#http = http;
    this.#logger = logger;
    // The first check runs at once, so a target that is down at start gets traffic for one threshold at most.
    for (const target of targets) this.#check(target);
  }

  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #schedule(target: HealthTarget): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#check(target);
    }, this.#options.intervalMs);
    timer.unref();
    this.#timers.add(timer);
  }

  #check(target: HealthTarget): void {
    if (this.#stopped) return;
    const done = (ok: boolean) => {
      if (this.#stopped) return;
      this.#record(target.upstream, ok);
      this.#schedule(target);
    };
    if (this.#http) this.#probeHttp(target, done);
    else this.#probeTcp(target, done);
  }

  #probeHttp(target: HealthTarget, done: (ok: boolean) => void): void {
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      req.destroy();
      done(ok);
    };
    const { host } = target.upstream;
    const req = request({ host, port: target.port, path: this.#options.path, method: 'GET', agent: false, timeout: this.#options.timeoutMs, headers: { host, 'user-agent': 'smartproxy-health-check' } });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      finish(status >= 200 && status < 400);
    });
    req.on('timeout', () => finish(false));
    req.on('error', () => finish(false));
    req.end();
  }

  #probeTcp(target: HealthTarget, done: (ok: boolean) => void): void {
    const socket = connect({ host: target.upstream.host, port: target.port });
    const timer = setTimeout(() => finish(false), this.#options.timeoutMs);
    let settled = false;
    function finish(ok: boolean) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      done(ok);
    }
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  }

  #record(upstream: Upstream, ok: boolean): void {
    if (ok === upstream.healthy) {
      upstream.streak = 0;
      return;
    }
    upstream.streak++;
    const needed = ok ? this.#options.healthyThreshold : this.#options.unhealthyThreshold;
    if (upstream.streak < needed) return;
    upstream.streak = 0;
    upstream.healthy = ok;
    if (ok) upstream.ejectedUntil = 0;
    if (ok) this.#logger.info({ target: upstream.key }, 'upstream target is healthy again');
    else this.#logger.warn({ target: upstream.key, checks: needed }, 'upstream target failed its health checks; it gets no traffic until it recovers');
  }
}
