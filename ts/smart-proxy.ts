import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { CertificateManager } from './certificates/certificate-manager.js';
import type { CertificateEvents } from './certificates/types.js';
import { LiveSettings } from './config/live-settings.js';
import { checkOptions, smartProxyOptions } from './config/option-schema.js';
import { checkAgainst } from './config/schema.js';
import { InvalidOptionError, PortInUseError, ProxyStateError, RouteValidationError, type RouteProblem } from './errors.js';
import { registerInternals } from './internals.js';
import { proxyLogger } from './logger.js';
import { MetricsCollector, type IMetrics } from './metrics/metrics.js';
import { renderPrometheus } from './metrics/prometheus.js';
import { defaultHttp2, type ILiveOptions, type ISmartProxyOptions } from './options.js';
import { ClientLimits } from './proxy/client-limits.js';
import { LimitReporter } from './proxy/limit-reporter.js';
import { PortManager } from './ports/port-manager.js';
import { ConnectionRouter } from './proxy/connection-router.js';
import { ConnectionTracker } from './proxy/connection-tracker.js';
import { dataPathContext } from './proxy/context.js';
import { HttpFronts } from './proxy/http-front.js';
import { UpstreamPool } from './proxy/upstream/pool.js';
import {
  certificateManagerView,
  portManagerView,
  routeManagerView,
  type ICertificateManagerView,
  type IPortManagerView,
  type IRouteManagerView,
} from './public-views.js';
import { RouteManager, type InternalRoute, type PreparedRoutes } from './routing/route-manager.js';
import { RouteTable } from './routing/route-table.js';
import { warnUnverifiedUpstreams } from './proxy/tls/upstream-tls.js';
import type { IRouteConfig } from './routing/types.js';
import { buildRouteGraph, idlePorts } from './routing/route-graph.js';
import type { IRouteGraph } from './routing/route-graph-types.js';
import { RouteUpdateLog } from './routing/update-log.js';
import { CapturedRoutes } from './routing/captured-routes.js';
import { SerialQueue } from './util/serial-queue.js';
import { acmeForWorkers, workerCertificateMirror } from './workers/certificate-bridge.js';
import { internalRouteData, userRouteData, workerRouteProblems } from './workers/route-data.js';
import { createWorkerGroup, type Listeners, type WorkerGroup } from './workers/worker-group.js';
import type { ListenHandle } from './ports/listen-handle.js';
import { AccessLog } from './proxy/access-log.js';
import { syncHealthChecks, upstreamMetrics } from './proxy/balancer/registry.js';
import { compileIpMatcher } from './routing/ip-matcher.js';

/** The events a SmartProxy emits, each with its single argument. */
export interface SmartProxyEvents {
  'port-bound': [{ port: number }];
  'port-released': [{ port: number }];
  /** After every applied update (and start()): `routes` is how many user routes are live, `ports` the sorted ports listened on. */
  'routes-updated': [{ routes: number; ports: number[] }];
  'certificate-issued': [CertificateEvents['certificate-issued']];
  'certificate-renewed': [CertificateEvents['certificate-renewed']];
  'certificate-failed': [CertificateEvents['certificate-failed']];
  'certificate-expiring': [CertificateEvents['certificate-expiring']];
  'certificate-expired': [CertificateEvents['certificate-expired']];
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

import { challengeRouteName } from './certificates/challenge-solvers.js';

export { challengeRouteName };

/**
 * The proxy: routes in, listeners out. Every change of routes is one
 * transaction, run one at a time in call order: validate everything, bind
 * the ports that are new, swap the route table, release the ports no longer
 * used. A port that stays in use is never closed or re-bound.
 */
export class SmartProxy extends EventEmitter<SmartProxyEvents> {
  /** Which ports are bound and how many routes use each: queries only. */
  readonly portManager: IPortManagerView;
  /** The routes in force: queries only; change them with updateRoutes(). */
  readonly routeManager: IRouteManagerView;
  /** Certificate status, and obtaining one on demand. */
  readonly certificateManager: ICertificateManagerView;
  readonly #ports: PortManager;
  readonly #routeManager = new RouteManager();
  readonly #certificates: CertificateManager;
  readonly #settings: LiveSettings;
  readonly #logger: Logger;
  readonly #queue = new SerialQueue();
  readonly #tracker = new ConnectionTracker();
  readonly #pool = new UpstreamPool();
  readonly #http: HttpFronts;
  readonly #metrics = new MetricsCollector();
  readonly #limitReporter: LimitReporter;
  readonly #updateLog: RouteUpdateLog;
  readonly #accessLog: AccessLog | undefined;
  /** The user routes in force (or waiting for start()), as captured when they were given. */
  #routes: CapturedRoutes;
  #state: State = 'new';
  /** The worker processes (`workers` option); undefined: this process serves everything, as always. */
  readonly #group: WorkerGroup | undefined;
  /** Routes given to the constructor that cannot go to workers, reported by start() like any invalid route. */
  #workerProblems: RouteProblem[] = [];

  constructor(options: ISmartProxyOptions) {
    super();
    const problems = checkOptions(options);
    if (problems.length > 0) throw new InvalidOptionError(problems.map((p) => ({ option: p.path, message: p.message })));
    this.#logger = proxyLogger(options.logger, options.logLevel);
    this.#routes = this.#routeManager.capture(options.routes);
    const settings = (this.#settings = new LiveSettings(options));
    this.#limitReporter = new LimitReporter(this.#logger);
    this.#updateLog = new RouteUpdateLog(this.#logger);
    const group = (this.#group = options.workers === undefined ? undefined : createWorkerGroup(options.workers, options, this.#logger, () => renderPrometheus(this.getMetrics())));
    if (group !== undefined) this.#workerProblems = workerRouteProblems(options.routes);
    this.#certificates = new CertificateManager({
      logger: this.#logger,
      acme: group === undefined ? options.acme : acmeForWorkers(options.acme, group),
      mirror: group === undefined ? undefined : workerCertificateMirror(group, this.#logger),
      certProvisionFunction: options.certProvisionFunction,
      sharedStore: options.store,
      tls: options.tls,
      internalRoutes: { setInternalRoute: (route) => this.#setInternalRoute(route), removeInternalRoute: (name) => this.#removeInternalRoute(name) },
      // Each certificate event's payload is the SmartProxy event's single argument, by construction of SmartProxyEvents.
      emit: (event, payload) => (this.emit as (event: string, payload: unknown) => boolean)(event, payload),
    });
    this.#accessLog = options.accessLog === undefined || options.accessLog === false ? undefined : new AccessLog(options.accessLog, options.logger);
    const ctx = dataPathContext(this.#routeManager, settings, {
      accessLog: this.#accessLog,
      proxyProtocol: options.proxyProtocol === undefined ? undefined : compileIpMatcher(options.proxyProtocol.allowFrom),
      logger: this.#logger,
      certificates: this.#certificates,
      tracker: this.#tracker,
      pool: this.#pool,
      clientLimits: new ClientLimits(settings.clientLimits()),
      limitReporter: this.#limitReporter,
      metrics: this.#metrics,
      renderMetrics: () => renderPrometheus(this.getMetrics()),
      http2: Object.freeze({ ...defaultHttp2, ...options.http2 }),
    });
    this.#http = new HttpFronts(ctx);
    const router = new ConnectionRouter(ctx, this.#http);
    this.#ports =
      group === undefined
        ? new PortManager({ host: options.host, onConnection: router.handle, logger: this.#logger })
        : // Bound here, accepted from by the workers: this process accepts no connection (worker-group.ts).
          new PortManager({ host: options.host, forWorkers: true, logger: this.#logger });
    this.#ports.on('port-bound', (event) => this.emit('port-bound', event));
    this.#ports.on('port-released', (event) => {
      this.#http.release(event.port);
      this.emit('port-released', event);
    });
    this.portManager = portManagerView(this.#ports);
    this.certificateManager = certificateManagerView(this.#certificates);
    this.routeManager = routeManagerView(() => this.getRoutes());
    // Read-only at runtime too, not only to the type-checker: a view cannot be swapped for something else.
    for (const view of ['portManager', 'certificateManager', 'routeManager']) Object.defineProperty(this, view, { writable: false, configurable: false });
    registerInternals(this, {
      ports: this.#ports,
      routes: this.#routeManager,
      certificates: this.#certificates,
      setInternalRoute: (route) => this.#setInternalRoute(route),
      removeInternalRoute: (name) => this.#removeInternalRoute(name),
    });
  }

  /** Binds every port the routes need. Rejects (and binds nothing) if any route is invalid or any port cannot be bound. */
  start(): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state !== 'new') throw new ProxyStateError(`start() called on a proxy that is ${this.#state}; create a new SmartProxy instead`);
      this.#state = 'starting';
      if (this.#workerProblems.length > 0) {
        this.#state = 'new';
        throw new RouteValidationError(this.#workerProblems);
      }
      try {
        await this.#group?.start();
        await this.#apply(this.#routes, []);
        this.#state = 'running';
      } catch (error) {
        this.#state = 'new';
        // No worker outlives a start() that failed: a later start() forks new ones.
        await this.#group?.stop(0);
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
    // Checked on the caller's objects: a function is gone once captured as JSON.
    const workerProblems = this.#group === undefined || !Array.isArray(routes) ? [] : workerRouteProblems(routes);
    if (workerProblems.length > 0) return Promise.reject(new RouteValidationError(workerProblems));
    // Captured now: edits the caller makes after this call do not reach the table.
    const captured = this.#routeManager.capture(routes);
    if (this.#state === 'new') this.#workerProblems = [];
    return this.#queue.run(async () => {
      if (this.#state === 'new') {
        // Validates as start() will (certificates included), so a bad route fails here, not at start().
        const prepared = this.#routeManager.prepare(captured);
        const certificateProblems = this.#certificates.checkRoutes(prepared.table);
        if (certificateProblems.length > 0) throw new RouteValidationError(certificateProblems);
        this.#routes = captured;
        return;
      }
      if (this.#state !== 'running') throw new ProxyStateError(`updateRoutes() called on a proxy that is ${this.#state}`);
      await this.#apply(captured, this.#routeManager.getInternalRoutes());
    });
  }

  /**
   * Changes the options a running proxy can apply live: `timeouts`,
   * `limits`, `trustedProxies`, `logLevel`. Checked like the constructor's
   * (throws InvalidOptionError, changing nothing). A group given replaces
   * the whole group (fields left out return to their defaults); a group left
   * out stays. Connections and requests that start afterwards use the new
   * values; Node's handover HTTP server of a port already in use keeps the
   * header and keep-alive timeouts it was created with.
   */
  updateOptions(options: ILiveOptions): void {
    const live = Object.fromEntries(Object.entries(smartProxyOptions).filter(([key, spec]) => spec.live && key !== 'routes'));
    const problems = checkAgainst(options, live);
    if (problems.length > 0) throw new InvalidOptionError(problems.map((p) => ({ option: p.path, message: p.message })));
    this.#settings.apply(options);
    if (options.logLevel !== undefined) this.#logger.level = options.logLevel;
    this.#group?.setOptions(options).catch((error: unknown) => this.#logger.error({ err: error }, 'applying options in the workers'));
  }

  /** Adds or replaces an internal route (the ACME challenge responder), through the same transaction. */
  #setInternalRoute(route: InternalRoute): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state !== 'running') throw new ProxyStateError(`cannot add route ${route.config.name}: the proxy is ${this.#state}`);
      const others = this.#routeManager.getInternalRoutes().filter((r) => r.config.name !== route.config.name);
      await this.#apply(this.#routes, [...others, route]);
    });
  }

  /** Removes an internal route by name; releases its port if nothing else uses it. */
  #removeInternalRoute(name: string): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state !== 'running') return;
      const remaining = this.#routeManager.getInternalRoutes().filter((r) => r.config.name !== name);
      await this.#apply(this.#routes, remaining);
    });
  }

  /** The user routes currently applied (frozen copies), or those waiting for start(). */
  getRoutes(): readonly IRouteConfig[] {
    if (this.#state !== 'new') return this.#routeManager.getRoutes();
    return Object.freeze(Array.from({ length: this.#routes.length }, (_, i) => this.#routes.config(i)));
  }

  /**
   * Counters since the proxy was created: connections (active and total),
   * requests and bytes, in total, per route and per port; listener
   * reference counts; certificate expiries; clients turned away by limits.
   */
  getMetrics(): IMetrics {
    const refCounts = new Map<number, number>();
    for (const port of this.#ports.getListeningPorts()) refCounts.set(port, this.#ports.getPortRefCount(port));
    const own = this.#metrics.snapshot({
      refCounts,
      certificates: this.#certificates.listCertificates(),
      limitHits: this.#limitReporter.totals(),
      upstreams: upstreamMetrics(this.#routeManager.table),
    });
    return this.#group === undefined ? own : this.#group.metrics(own);
  }

  /**
   * The routes by port, in the order they are tried, with what the
   * combination means: routes that can never match (`shadowed`), plain TCP
   * routes parsed as HTTP (`protocol`), redirects to themselves
   * (`redirect-loop`). Built from the live table (before start(): from the
   * routes given, throwing RouteValidationError if they are invalid); the
   * warnings are computed once per table, so calling it is cheap.
   */
  getRouteGraph(): IRouteGraph {
    if (this.#state === 'new') {
      const table = this.#routeManager.prepare(this.#routes, []).table;
      return buildRouteGraph(table, idlePorts(table));
    }
    const table = this.#routeManager.table;
    const running = this.#state === 'running' || this.#state === 'starting';
    return buildRouteGraph(table, {
      listening: (port) => running && this.portManager.isPortBoundBySmartProxy(port),
      refCount: (port) => (running ? this.portManager.getPortRefCount(port) : table.refCount(port)),
    });
  }

  /** Sorted ports with a listener. */
  getListeningPorts(): number[] {
    return this.#ports.getListeningPorts();
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
      this.#certificates.stop();
      this.#limitReporter.stop();
      // No health check runs (or logs a target down) while the proxy drains: stop() leaves no timer.
      syncHealthChecks(this.#routeManager.table, RouteTable.empty, this.#logger);
      await this.#ports.closeAll();
      // HTTP/2 clients are told first (GOAWAY), so they stop opening streams the drain would cut.
      this.#http.beginDrain();
      await this.#group?.stop(options.drainTimeoutMs ?? this.#settings.timeouts.drainMs);
      await this.#tracker.drain(options.drainTimeoutMs ?? this.#settings.timeouts.drainMs, (socket) => this.#http.isIdleHttp(socket));
      this.#http.closeAll();
      this.#pool.destroy();
      this.#accessLog?.flush();
      this.#state = 'stopped';
      this.#logger.info('stopped');
    });
  }

  async #apply(userRoutes: CapturedRoutes, internalRoutes: readonly InternalRoute[]): Promise<void> {
    const prepared = this.#routeManager.prepare(userRoutes, internalRoutes);
    const certificateProblems = this.#certificates.checkRoutes(prepared.table);
    if (certificateProblems.length > 0) throw new RouteValidationError(certificateProblems);
    const { gained, lost } = this.#portDelta(prepared);
    await this.#acquirePorts(gained, prepared.table);
    await this.#applyInWorkers(prepared, gained);
    const before = this.#routeManager.table;
    this.#routeManager.commit(prepared);
    // Health checks follow the live table: new routes start theirs, dropped ones stop.
    syncHealthChecks(before, prepared.table, this.#logger);
    this.#routes = userRoutes;
    // The new table is live from here: a port that fails to let go is logged, not
    // reported as a failed update, and the other orphans are still released.
    for (const [port, refs] of lost) {
      try {
        await this.#ports.removePort(port, refs);
      } catch (error) {
        this.#logger.error({ port, refs, err: error }, 'releasing a port the new routes no longer use');
      }
    }
    this.#certificates.routesApplied(prepared.table);
    warnUnverifiedUpstreams(prepared.table.routes, this.#logger);
    // Logged just after the update resolves: the warnings of 10,000 routes cost ~12 ms the caller need not wait for.
    const after = prepared.table;
    setImmediate(() => {
      try {
        this.#updateLog.applied(before, after);
      } catch (error) {
        // Describing the routes must never fail an update that is live already.
        this.#logger.error({ err: error }, 'describing the applied routes');
      }
    });
    this.emit('routes-updated', { routes: prepared.userRoutes.length, ports: prepared.table.portNumbers() });
  }

  /**
   * How each port's reference count must move: by the number of routes using
   * it, old table vs new. Diffing the tables (not the pool's counts) means the
   * routes only ever give back references they took, so a reference someone
   * else holds on the pool is never released for them.
   */
  #portDelta(prepared: PreparedRoutes): { gained: Map<number, number>; lost: Map<number, number> } {
    const current = this.#routeManager.table;
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

  /**
   * With workers: stages the table in every worker and commits it there
   * before this process commits, so updateRoutes() resolves only once every
   * worker serves it. Each worker is sent the sockets this process bound
   * for new ports. A worker that cannot take it rolls the whole update
   * back, port references included.
   */
  async #applyInWorkers(prepared: PreparedRoutes, gained: Map<number, number>): Promise<void> {
    if (this.#group === undefined) return;
    let staged;
    try {
      staged = await this.#group.stage(userRouteData(prepared.userRoutes), internalRouteData(prepared.internalRoutes, challengeRouteName), this.#listenHandles(prepared.table));
    } catch (error) {
      await this.#giveBack([...gained]);
      if (error instanceof PortInUseError) {
        const routes = prepared.table.routes.filter((r) => r.ports.includes(error.port)).map((r) => r.name);
        throw new PortInUseError(error.port, { cause: error.cause, host: error.host, routes });
      }
      throw error;
    }
    await staged.commit();
  }

  /** The bound socket of every port a table routes (all acquired by now), for the workers to accept from. */
  #listenHandles(table: RouteTable): Listeners {
    const handles = new Map<number, ListenHandle>();
    for (const port of table.portNumbers()) {
      const handle = this.#ports.listenHandle(port);
      if (handle === undefined) throw new Error(`port ${port} is routed but not bound`);
      handles.set(port, handle);
    }
    return handles;
  }

  async #giveBack(entries: [number, number][]): Promise<void> {
    for (const [port, refs] of entries) {
      try {
        await this.#ports.removePort(port, refs);
      } catch (error) {
        this.#logger.error({ port, err: error }, 'restoring port references after a failed update');
      }
    }
  }

  /**
   * Takes the new references; on any failure gives back the ones taken and
   * rethrows, so nothing is half-applied. A PortInUseError is rethrown
   * naming the routes that wanted the port.
   */
  async #acquirePorts(gained: Map<number, number>, table: RouteTable): Promise<void> {
    const entries = [...gained];
    const results = await Promise.allSettled(entries.map(([port, refs]) => this.#ports.addPort(port, refs)));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure === undefined) return;
    await this.#giveBack(entries.filter((_, i) => results[i]!.status === 'fulfilled'));
    const reason: unknown = failure.reason;
    if (reason instanceof PortInUseError) {
      const routes = table.routes.filter((r) => r.ports.includes(reason.port)).map((r) => r.name);
      throw new PortInUseError(reason.port, { cause: reason.cause, host: reason.host, routes });
    }
    throw reason;
  }
}
