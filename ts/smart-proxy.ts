import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { CertificateManager, type CertificateEvents } from './certificates/certificate-manager.js';
import { InvalidOptionError, ProxyStateError, RouteValidationError } from './errors.js';
import { defaultLogger } from './logger.js';
import { MetricsCollector, type IMetrics } from './metrics/metrics.js';
import { renderPrometheus } from './metrics/prometheus.js';
import { defaultLimits, defaultTimeouts, type ISmartProxyOptions } from './options.js';
import { ClientLimits } from './proxy/client-limits.js';
import { LimitReporter } from './proxy/limit-reporter.js';
import { PortManager } from './ports/port-manager.js';
import { ConnectionRouter } from './proxy/connection-router.js';
import { ConnectionTracker } from './proxy/connection-tracker.js';
import type { ProxyContext } from './proxy/context.js';
import { HttpFronts } from './proxy/http-front.js';
import { UpstreamAgents } from './proxy/upstream-agents.js';
import { compileIpMatcher, ipPatternProblem } from './routing/ip-matcher.js';
import { RouteManager, type InternalRoute, type PreparedRoutes } from './routing/route-manager.js';
import type { IRouteConfig } from './routing/types.js';
import { CapturedRoutes } from './routing/captured-routes.js';
import { SerialQueue } from './util/serial-queue.js';

export interface SmartProxyEvents {
  'port-bound': [{ port: number }];
  'port-released': [{ port: number }];
  'routes-updated': [{ routes: number; ports: number[] }];
  'certificate-issued': [CertificateEvents['certificate-issued']];
  'certificate-renewed': [CertificateEvents['certificate-renewed']];
  'certificate-failed': [CertificateEvents['certificate-failed']];
  'certificate-expiring': [CertificateEvents['certificate-expiring']];
  'certificate-expired': [CertificateEvents['certificate-expired']];
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export { challengeRouteName } from './certificates/challenge-solvers.js';

/**
 * The proxy: routes in, listeners out. Every change of routes is one
 * transaction, run one at a time in call order: validate everything, bind
 * the ports that are new, swap the route table, release the ports no longer
 * used. A port that stays in use is never closed or re-bound.
 */
export class SmartProxy extends EventEmitter<SmartProxyEvents> {
  readonly portManager: PortManager;
  readonly routeManager = new RouteManager();
  readonly certificateManager: CertificateManager;
  readonly #logger: Logger;
  readonly #queue = new SerialQueue();
  readonly #tracker = new ConnectionTracker();
  readonly #agents = new UpstreamAgents();
  readonly #http: HttpFronts;
  readonly #drainMs: number;
  readonly #metrics = new MetricsCollector();
  readonly #limitReporter: LimitReporter;
  /** The user routes in force (or waiting for start()), as captured when they were given. */
  #routes: CapturedRoutes;
  #state: State = 'new';

  constructor(options: ISmartProxyOptions) {
    super();
    checkOptions(options);
    this.#logger = options.logger ?? defaultLogger();
    this.#routes = this.routeManager.capture(options.routes);
    const timeouts = { ...defaultTimeouts, ...options.timeouts };
    const limits = { ...defaultLimits, ...options.limits };
    this.#limitReporter = new LimitReporter(this.#logger);
    this.#drainMs = timeouts.drainMs;
    this.certificateManager = new CertificateManager({
      logger: this.#logger,
      acme: options.acme,
      certProvisionFunction: options.certProvisionFunction,
      internalRoutes: { setInternalRoute: (route) => this.setInternalRoute(route), removeInternalRoute: (name) => this.removeInternalRoute(name) },
      // Each certificate event's payload is the SmartProxy event's single argument, by construction of SmartProxyEvents.
      emit: (event, payload) => (this.emit as (event: string, payload: unknown) => boolean)(event, payload),
    });
    const ctx: ProxyContext = {
      routes: this.routeManager,
      logger: this.#logger,
      timeouts,
      trustedProxies: options.trustedProxies ? compileIpMatcher(options.trustedProxies) : undefined,
      certificates: this.certificateManager,
      tracker: this.#tracker,
      agents: this.#agents,
      limits,
      clientLimits: new ClientLimits(limits),
      limitReporter: this.#limitReporter,
      metrics: this.#metrics,
      renderMetrics: () => renderPrometheus(this.getMetrics()),
    };
    this.#http = new HttpFronts(ctx);
    const router = new ConnectionRouter(ctx, this.#http);
    this.portManager = new PortManager({ host: options.host, onConnection: router.handle, logger: this.#logger });
    this.portManager.on('port-bound', (event) => this.emit('port-bound', event));
    this.portManager.on('port-released', (event) => {
      this.#http.release(event.port);
      this.emit('port-released', event);
    });
  }

  /** Binds every port the routes need. Rejects (and binds nothing) if any route is invalid or any port cannot be bound. */
  start(): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state !== 'new') throw new ProxyStateError(`start() called on a proxy that is ${this.#state}; create a new SmartProxy instead`);
      this.#state = 'starting';
      try {
        await this.#apply(this.#routes, []);
        this.#state = 'running';
      } catch (error) {
        this.#state = 'new';
        throw error;
      }
    });
  }

  /**
   * Replaces every route, as one transaction. Rejects with
   * RouteValidationError, PortInUseError or PortBindError and leaves the
   * previous routes serving untouched. Concurrent calls apply in call order.
   */
  updateRoutes(routes: IRouteConfig[]): Promise<void> {
    // Captured now: edits the caller makes after this call do not reach the table.
    const captured = this.routeManager.capture(routes);
    return this.#queue.run(async () => {
      if (this.#state === 'new') {
        // Validates as start() will (certificates included), so a bad route fails here, not at start().
        const prepared = this.routeManager.prepare(captured);
        const certificateProblems = this.certificateManager.checkRoutes(prepared.table);
        if (certificateProblems.length > 0) throw new RouteValidationError(certificateProblems);
        this.#routes = captured;
        return;
      }
      if (this.#state !== 'running') throw new ProxyStateError(`updateRoutes() called on a proxy that is ${this.#state}`);
      await this.#apply(captured, this.routeManager.getInternalRoutes());
    });
  }

  /** Adds or replaces an internal route (the ACME challenge responder), through the same transaction. */
  setInternalRoute(route: InternalRoute): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state !== 'running') throw new ProxyStateError(`cannot add route ${route.config.name}: the proxy is ${this.#state}`);
      const others = this.routeManager.getInternalRoutes().filter((r) => r.config.name !== route.config.name);
      await this.#apply(this.#routes, [...others, route]);
    });
  }

  /** Removes an internal route by name; releases its port if nothing else uses it. */
  removeInternalRoute(name: string): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state !== 'running') return;
      const remaining = this.routeManager.getInternalRoutes().filter((r) => r.config.name !== name);
      await this.#apply(this.#routes, remaining);
    });
  }

  /** The user routes currently applied. */
  getRoutes(): readonly IRouteConfig[] {
    if (this.#state !== 'new') return this.routeManager.getRoutes();
    return Object.freeze(Array.from({ length: this.#routes.length }, (_, i) => this.#routes.config(i)));
  }

  /**
   * Counters since the proxy was created: connections (active and total),
   * requests and bytes, in total, per route and per port; listener
   * reference counts; certificate expiries; clients turned away by limits.
   */
  getMetrics(): IMetrics {
    const refCounts = new Map<number, number>();
    for (const port of this.portManager.getListeningPorts()) refCounts.set(port, this.portManager.getPortRefCount(port));
    return this.#metrics.snapshot({
      refCounts,
      certificates: this.certificateManager.listCertificates(),
      limitHits: this.#limitReporter.totals(),
    });
  }

  /** Sorted ports with a listener. */
  getListeningPorts(): number[] {
    return this.portManager.getListeningPorts();
  }

  /**
   * Stops accepting, lets open requests finish for up to `drainTimeoutMs`
   * (default: timeouts.drainMs), closes idle keep-alive connections at once
   * and the rest at the deadline. Every port is free when it resolves.
   */
  stop(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === 'stopped' || this.#state === 'new') {
        this.#state = 'stopped';
        return;
      }
      this.#state = 'stopping';
      this.certificateManager.stop();
      this.#limitReporter.stop();
      await this.portManager.closeAll();
      await this.#tracker.drain(options.drainTimeoutMs ?? this.#drainMs, (socket) => this.#http.isIdleHttp(socket));
      this.#http.closeAll();
      this.#agents.destroy();
      this.#state = 'stopped';
      this.#logger.info('stopped');
    });
  }

  async #apply(userRoutes: CapturedRoutes, internalRoutes: readonly InternalRoute[]): Promise<void> {
    const prepared = this.routeManager.prepare(userRoutes, internalRoutes);
    const certificateProblems = this.certificateManager.checkRoutes(prepared.table);
    if (certificateProblems.length > 0) throw new RouteValidationError(certificateProblems);
    const { gained, lost } = this.#portDelta(prepared);
    await this.#acquirePorts(gained);
    this.routeManager.commit(prepared);
    this.#routes = userRoutes;
    // The new table is live from here: a port that fails to let go is logged, not
    // reported as a failed update, and the other orphans are still released.
    for (const [port, refs] of lost) {
      try {
        await this.portManager.removePort(port, refs);
      } catch (error) {
        this.#logger.error({ port, refs, err: error }, 'releasing a port the new routes no longer use');
      }
    }
    this.certificateManager.routesApplied(prepared.table);
    const ports = prepared.table.portNumbers();
    this.#logger.debug({ routes: prepared.table.routes.length, ports }, 'routes applied');
    this.emit('routes-updated', { routes: prepared.userRoutes.length, ports });
  }

  /**
   * How each port's reference count must move: by the number of routes using
   * it, old table vs new. Diffing the tables (not the pool's counts) means the
   * routes only ever give back references they took, so a reference someone
   * else holds on the pool (portManager.addPort) is never released for them.
   */
  #portDelta(prepared: PreparedRoutes): { gained: Map<number, number>; lost: Map<number, number> } {
    const current = this.routeManager.table;
    const gained = new Map<number, number>();
    const lost = new Map<number, number>();
    for (const [port, portTable] of prepared.table.ports) {
      const delta = portTable.routeCount - current.refCount(port);
      if (delta > 0) gained.set(port, delta);
      else if (delta < 0) lost.set(port, -delta);
    }
    for (const [port, portTable] of current.ports) {
      if (!prepared.table.ports.has(port)) lost.set(port, portTable.routeCount);
    }
    return { gained, lost };
  }

  /** Takes the new references; on any failure gives back the ones taken and rethrows, so nothing is half-applied. */
  async #acquirePorts(gained: Map<number, number>): Promise<void> {
    const entries = [...gained];
    const results = await Promise.allSettled(entries.map(([port, refs]) => this.portManager.addPort(port, refs)));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure === undefined) return;
    const undo = entries.filter((_, i) => results[i]!.status === 'fulfilled');
    for (const [port, refs] of undo) {
      try {
        await this.portManager.removePort(port, refs);
      } catch (error) {
        this.#logger.error({ port, err: error }, 'restoring port references after a failed update');
      }
    }
    throw failure.reason;
  }
}

function checkOptions(options: ISmartProxyOptions): void {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'an object', options);
  if (!Array.isArray(options.routes)) throw new InvalidOptionError('routes', 'an array of routes', options.routes);
  if (options.host !== undefined && typeof options.host !== 'string') throw new InvalidOptionError('host', 'a string', options.host);
  for (const cidr of options.trustedProxies ?? []) {
    if (ipPatternProblem(cidr) !== undefined) throw new InvalidOptionError('trustedProxies', 'a list of IPs or CIDRs', cidr);
  }
  for (const [name, value] of Object.entries(options.timeouts ?? {})) {
    if (!(name in defaultTimeouts)) throw new InvalidOptionError(`timeouts.${name}`, `one of ${Object.keys(defaultTimeouts).join(', ')}`, name);
    const zeroAllowed = name === 'maxLifetimeMs';
    if (!Number.isFinite(value) || (value as number) < 0 || (value === 0 && !zeroAllowed)) {
      throw new InvalidOptionError(`timeouts.${name}`, `a positive number of milliseconds${zeroAllowed ? ' (0: off)' : ''}`, value);
    }
  }
  for (const [name, value] of Object.entries(options.limits ?? {})) {
    if (!(name in defaultLimits)) throw new InvalidOptionError(`limits.${name}`, `one of ${Object.keys(defaultLimits).join(', ')}`, name);
    if (typeof value !== 'number' || Number.isNaN(value) || value < 1) throw new InvalidOptionError(`limits.${name}`, 'a number of at least 1 (Infinity: no limit)', value);
  }
}
