/**
 * The balancer of one forward route: picks a target by the route's policy
 * among those that are healthy (active checks) and not ejected (passive
 * failures), and keeps the counts the policies and metrics need. One per
 * compiled route, kept in `route.state`, so it survives updates that keep
 * the route.
 */
import type { Logger } from 'pino';
import type { IUpstreamMetrics } from '../../metrics/metrics.js';
import type { IRouteAction } from '../../routing/types.js';
import { HealthChecker, type HealthTarget } from './health-check.js';
import { HashRing, leastConnections, roundRobin, type PolicyName } from './policies.js';
import { passiveDefaults, upstreamsOf, type Upstream } from './upstream.js';


const noExclusions: readonly Upstream[] = [];

export class Balancer {
  readonly targets: readonly Upstream[];
  readonly policy: PolicyName;
  readonly #action: IRouteAction;
  readonly #ring: HashRing | undefined;
  #cursor = 0;
  #checker: HealthChecker | undefined;
  #exclude: readonly Upstream[] = noExclusions;
  #now = 0;

  constructor(action: IRouteAction) {
    this.#action = action;
    this.targets = upstreamsOf(action);
    this.policy = action.loadBalancing?.policy ?? 'round-robin';
    this.#ring = this.policy === 'ip-hash' ? new HashRing(this.targets) : undefined;
  }

  /**
   * The target for a new connection or request from `clientIp`, never one in
   * `exclude` (targets this request already failed on). Healthy, not ejected
   * targets first; when every such one is excluded or down, an ejected (but
   * healthy) one whose ejection ends soonest, so a route whose only target
   * came back is not refused for the rest of the ejection. Undefined when
   * nothing is left: the caller answers 503 or closes.
   */
  select(clientIp: string, exclude: readonly Upstream[] = noExclusions): Upstream | undefined {
    const targets = this.targets;
    this.#exclude = exclude;
    this.#now = Date.now();
    if (targets.length === 1) {
      const only = targets[0]!;
      return this.#available(only) || this.#lastResort(only) ? only : undefined;
    }
    const start = this.#cursor++;
    if (this.#cursor > 0x3fffffff) this.#cursor = 0;
    let picked: Upstream | undefined;
    if (this.#ring !== undefined) picked = this.#ring.pick(clientIp, this.#available);
    else if (this.policy === 'least-connections') picked = leastConnections(targets, start, this.#available);
    else picked = roundRobin(targets, start, this.#available);
    if (picked !== undefined) return picked;
    let soonest: Upstream | undefined;
    for (const t of targets) {
      if (this.#lastResort(t) && (soonest === undefined || t.ejectedUntil < soonest.ejectedUntil)) soonest = t;
    }
    return soonest;
  }

  readonly #available = (t: Upstream): boolean => t.healthy && t.ejectedUntil <= this.#now && !this.#exclude.includes(t);

  #lastResort(t: Upstream): boolean {
    return t.healthy && !this.#exclude.includes(t);
  }

  /** A connect failure or a reset before any response byte; ejects the target after too many in the window. */
  reportFailure(target: Upstream, logger: Logger, routeName: string): void {
    const now = Date.now();
    target.totalFailures++;
    if (now - target.failWindowStart > passiveDefaults.failWindowMs) {
      target.failWindowStart = now;
      target.fails = 0;
    }
    if (++target.fails < passiveDefaults.maxFails || target.ejectedUntil > now) return;
    target.ejectedUntil = now + passiveDefaults.ejectMs;
    target.fails = 0;
    logger.warn({ route: routeName, target: target.key, ejectMs: passiveDefaults.ejectMs }, 'upstream target ejected after repeated failures');
  }

  /** A connection succeeded: the failure count starts over and an ejection ends early. */
  reportSuccess(target: Upstream): void {
    target.fails = 0;
    target.ejectedUntil = 0;
  }

  acquire(target: Upstream): void {
    target.active++;
  }

  release(target: Upstream): void {
    target.active--;
  }

  /** Starts the route's active health checks, if it has any; `http` checks with GET, else with a TCP connect. */
  startHealthChecks(logger: Logger, routeName: string, http: boolean, fallbackPort: number): void {
    const options = this.#action.loadBalancing?.healthCheck;
    if (options === undefined || this.#checker !== undefined) return;
    const targets: HealthTarget[] = this.targets.map((t) => ({ upstream: t, port: t.port === 'preserve' ? fallbackPort : t.port }));
    this.#checker = new HealthChecker(options, targets, http, logger.child({ route: routeName }));
  }

  /** Stops the health checks; no timer is left behind. */
  stopHealthChecks(): void {
    this.#checker?.stop();
    this.#checker = undefined;
  }

  metrics(): IUpstreamMetrics[] {
    const now = Date.now();
    return this.targets.map((t) => ({ target: t.key, healthy: t.healthy, ejected: t.ejectedUntil > now, activeConnections: t.active, failures: t.totalFailures }));
  }
}
