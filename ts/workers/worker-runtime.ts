import { AccessLog } from '../proxy/access-log.js';
import { compileIpMatcher } from '../routing/ip-matcher.js';
import { defaultHttp2 } from '../options.js';
import type { Logger } from 'pino';
import { MemoryChallengeStore } from '../certificates/challenge-store.js';
import { createHttp01Responder } from '../certificates/http01-responder.js';
import { LiveSettings } from '../config/live-settings.js';
import { MetricsCollector } from '../metrics/metrics.js';
import type { ILiveOptions } from '../options.js';
import { ClientLimits } from '../proxy/client-limits.js';
import { ConnectionRouter } from '../proxy/connection-router.js';
import { ConnectionTracker } from '../proxy/connection-tracker.js';
import { HttpFronts } from '../proxy/http-front.js';
import { LimitReporter } from '../proxy/limit-reporter.js';
import { UpstreamPool } from '../proxy/upstream/pool.js';
import { RouteManager, type InternalRoute, type PreparedRoutes } from '../routing/route-manager.js';
import type { IRouteConfig, IStaticCertificate } from '../routing/types.js';
import { dataPathContext } from '../proxy/context.js';
import type { InternalRouteData, WorkerCounters, WorkerSettings } from './protocol.js';
import { WorkerCertificates } from './worker-certificates.js';
import { WorkerListeners } from './worker-listeners.js';
import { PendingPorts } from './pending-ports.js';
import type { ListenHandle } from '../ports/listen-handle.js';

interface Staged {
  generation: number;
  prepared: PreparedRoutes;
}

/**
 * The data path of one worker process: the same ConnectionRouter,
 * HttpFronts and upstream pool a single-process proxy runs, fed with routes,
 * certificates and tokens the control plane sends as data. It owns no
 * route decisions: what to serve arrives as a staged generation that goes
 * live on commit.
 */
export class WorkerRuntime {
  readonly certificates: WorkerCertificates;
  readonly tokens = new MemoryChallengeStore();
  readonly #routes = new RouteManager();
  readonly #settings: LiveSettings;
  readonly #logger: Logger;
  readonly #tracker = new ConnectionTracker();
  readonly #pool = new UpstreamPool();
  readonly #metrics = new MetricsCollector();
  readonly #limitReporter: LimitReporter;
  readonly #http: HttpFronts;
  readonly #router: ConnectionRouter;
  /** Its copies of the sockets the control plane bound: connections are accepted here, not handed over. */
  readonly #listeners: WorkerListeners;
  /** New ports of the staged generation: their connections wait for its commit. */
  readonly #pending = new PendingPorts();
  readonly #responder = createHttp01Responder(this.tokens);
  #staged: Staged | undefined;
  #groupMetrics = '';

  constructor(settings: WorkerSettings, logger: Logger) {
    this.#logger = logger;
    this.#settings = new LiveSettings(settings.live);
    this.#limitReporter = new LimitReporter(logger);
    this.certificates = new WorkerCertificates(settings.tls);
    const ctx = dataPathContext(this.#routes, this.#settings, {
      logger,
      certificates: this.certificates,
      tracker: this.#tracker,
      pool: this.#pool,
      clientLimits: new ClientLimits(this.#settings.clientLimits()),
      limitReporter: this.#limitReporter,
      metrics: this.#metrics,
      // The group's totals, as the control plane last pushed them (at most a metrics interval old).
      renderMetrics: () => this.#groupMetrics,
      http2: Object.freeze({ ...defaultHttp2, ...settings.http2 }),
      accessLog: settings.accessLog === true ? new AccessLog(true, logger) : undefined,
      proxyProtocol: settings.proxyProtocol === undefined ? undefined : compileIpMatcher(settings.proxyProtocol.allowFrom),
    });
    this.#http = new HttpFronts(ctx);
    this.#router = new ConnectionRouter(ctx, this.#http);
    this.#listeners = new WorkerListeners((socket, port) => {
      if (!this.#pending.hold(socket, port)) this.#router.handle(socket, port);
    }, logger);
  }

  /**
   * Starts accepting on a port the control plane bound (sent before the
   * generation that routes it is staged, or after a joining worker's first
   * commit). A port the table in force does not route holds its
   * connections until the staged generation is committed or aborted.
   */
  listen(port: number, handle: ListenHandle): Promise<void> {
    if (!this.#routes.table.ports.has(port)) this.#pending.add(port);
    return this.#listeners.listen(port, handle);
  }

  /** Builds a generation; the old table keeps serving until commit. */
  async stage(generation: number, routes: IRouteConfig[], internal: InternalRouteData[]): Promise<void> {
    // A generation staged and never decided is replaced, not aborted: aborting would stop listening on the
    // ports just sent for this one. Whichever is committed then keeps the ports it routes and drops the rest.
    this.#staged = undefined;
    const internalRoutes: InternalRoute[] = internal.map((route) => ({ config: route.config, requestHandler: this.#responder }));
    const prepared = this.#routes.prepare(this.#routes.capture(routes), internalRoutes);
    this.#staged = { generation, prepared };
  }

  /** Swaps the staged table in (one assignment) and releases the ports it no longer uses. */
  async commit(generation: number): Promise<void> {
    const staged = this.#staged;
    if (staged === undefined || staged.generation !== generation) throw new Error(`no staged route generation ${generation} to commit`);
    this.#staged = undefined;
    this.#routes.commit(staged.prepared);
    const table = staged.prepared.table;
    const statics: IStaticCertificate[] = [];
    for (const route of table.routes) {
      const certificate = route.action.tls?.certificate;
      if (typeof certificate === 'object') statics.push(certificate);
    }
    this.certificates.retainStatic(statics);
    this.#stopListening(table.ports);
    this.#pending.settle((port) => table.ports.has(port), this.#router.handle);
  }

  async abort(generation: number): Promise<void> {
    if (this.#staged?.generation === generation) this.#staged = undefined;
    // Ports sent for the aborted generation are let go even when its stage never arrived (a port's
    // listen failed first); the control plane releases its own descriptors.
    const table = this.#routes.table;
    this.#stopListening(table.ports);
    this.#pending.settle((port) => table.ports.has(port), this.#router.handle);
  }

  applyOptions(options: ILiveOptions): void {
    this.#settings.apply(options);
    if (options.logLevel !== undefined) this.#logger.level = options.logLevel;
  }

  setGroupMetrics(text: string): void {
    this.#groupMetrics = text;
  }

  counters(): WorkerCounters {
    const snapshot = this.#metrics.snapshot({ refCounts: new Map(), certificates: [], limitHits: this.#limitReporter.totals() });
    const { routes, ports, limitHits, activeConnections, totalConnections, requests, bytesIn, bytesOut } = snapshot;
    return { total: { activeConnections, totalConnections, requests, bytesIn, bytesOut }, routes, ports, limitHits };
  }

  /** Stops accepting, drains like SmartProxy.stop(), and lets go of every upstream. */
  async stop(drainTimeoutMs: number): Promise<void> {
    this.#limitReporter.stop();
    this.#listeners.closeAll();
    this.#pending.settle(() => false, this.#router.handle);
    await this.#tracker.drain(drainTimeoutMs, (socket) => this.#http.isIdleHttp(socket));
    this.#http.closeAll();
    this.#pool.destroy();
  }

  /** Stops accepting on the ports a table does not route, and lets their HTTP fronts go. */
  #stopListening(keep: ReadonlyMap<number, unknown>): void {
    for (const port of this.#listeners.ports()) {
      if (keep.has(port)) continue;
      this.#listeners.close(port);
      this.#http.release(port);
    }
  }
}
