import { AccessLog } from '../proxy/access-log.js';
import { compileIpMatcher } from '../routing/ip-matcher.js';
import { defaultHttp2 } from '../options.js';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { MemoryChallengeStore } from '../certificates/challenge-store.js';
import { createHttp01Responder } from '../certificates/http01-responder.js';
import { LiveSettings } from '../config/live-settings.js';
import { MetricsCollector } from '../metrics/metrics.js';
import type { ILiveOptions } from '../options.js';
import { PortManager } from '../ports/port-manager.js';
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

interface Staged {
  generation: number;
  prepared: PreparedRoutes;
  /** Ports this generation bound in this worker (reusePort mode), released again on abort. */
  bound: number[];
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
  /** Listeners of its own, only when the kernel spreads connections (reusePort). */
  readonly #ports: PortManager | undefined;
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
    if (settings.reusePort) {
      this.#ports = new PortManager({ host: settings.host, onConnection: this.#router.handle, logger, reusePort: 'join' });
      this.#ports.on('port-released', ({ port }) => this.#http.release(port));
    }
  }

  /** A connection the control plane accepted and handed over. */
  accept(socket: Socket, port: number): void {
    this.#router.handle(socket, port);
  }

  /** Builds (and in reusePort mode binds) a generation; the old table keeps serving until commit. */
  async stage(generation: number, routes: IRouteConfig[], internal: InternalRouteData[]): Promise<void> {
    if (this.#staged !== undefined) await this.abort(this.#staged.generation);
    const internalRoutes: InternalRoute[] = internal.map((route) => ({ config: route.config, requestHandler: this.#responder }));
    const prepared = this.#routes.prepare(this.#routes.capture(routes), internalRoutes);
    const bound: number[] = [];
    const staged: Staged = { generation, prepared, bound };
    if (this.#ports !== undefined) {
      const ports = this.#ports;
      const wanted = prepared.table.portNumbers().filter((port) => !ports.isPortBoundBySmartProxy(port));
      const results = await Promise.allSettled(wanted.map((port) => ports.addPort(port)));
      results.forEach((result, i) => result.status === 'fulfilled' && bound.push(wanted[i]!));
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure !== undefined) {
        await this.#release(bound);
        throw failure.reason;
      }
    }
    this.#staged = staged;
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
    if (this.#ports !== undefined) await this.#release(this.#ports.getListeningPorts().filter((port) => !table.ports.has(port)));
  }

  async abort(generation: number): Promise<void> {
    const staged = this.#staged;
    if (staged === undefined || staged.generation !== generation) return;
    this.#staged = undefined;
    await this.#release(staged.bound);
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
    await this.#ports?.closeAll();
    await this.#tracker.drain(drainTimeoutMs, (socket) => this.#http.isIdleHttp(socket));
    this.#http.closeAll();
    this.#pool.destroy();
  }

  async #release(ports: number[]): Promise<void> {
    for (const port of ports) {
      try {
        await this.#ports!.removePort(port, this.#ports!.getPortRefCount(port));
      } catch (error) {
        this.#logger.error({ port, err: error }, 'releasing a port in a worker');
      }
    }
  }
}
