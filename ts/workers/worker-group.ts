/**
 * # Workers: one SmartProxy on every core
 *
 * The process that creates the SmartProxy is the **control plane**: it
 * validates routes, runs every updateRoutes() transaction, owns the ports'
 * lives (PortManager, PortInUseError), certificates and ACME (one order per
 * name for the group), challenge tokens, and metrics. With `workers: N` it
 * also forks N **worker processes** (worker-main.ts) that run only the data
 * path — the same ConnectionRouter / HttpFronts / upstream pool as a single
 * process — fed with routes, certificates, tokens and TLS ticket keys as
 * data over the IPC channel (protocol.ts: typed messages, each with an id
 * and one ack).
 *
 * **Listening.** The control plane binds each routed port (PortManager,
 * exclusively: another program's port is a PortInUseError) but never
 * listens on it, and sends the bound socket once to each worker, which
 * listens on its copy and accepts from it: the kernel gives each new
 * connection to one of the workers waiting in accept(), as node:cluster's
 * SCHED_NONE mode does, and no connection passes through the control plane
 * (handing each one over cost ~150 µs of its CPU). Not node:cluster itself:
 * its setupPrimary() is process-global and would collide with a host
 * application using cluster. Not SO_REUSEPORT either: one socket means one
 * accept queue, so connections queued for a worker that dies are accepted
 * by the others (or its replacement), not reset, and the port's life is the
 * control plane's descriptor: it is released when PortManager lets go and
 * every worker has closed its copy.
 *
 * **Route generations.** An update is two-phase: `stage` (each worker is
 * sent the sockets of new ports, then builds the table) to every live worker,
 * then `commit` (one assignment in each worker) — and only then does the
 * control plane commit and updateRoutes() resolve, so a request accepted
 * after it resolves never meets the old table. A stage that fails anywhere
 * aborts everywhere and the control plane gives its new port references
 * back: the whole update is rolled back. A committed table's workers stop
 * accepting on ports it no longer routes. Functions cannot be sent, so a
 * route holding one is refused with ERR_ROUTE_VALIDATION (route-data.ts).
 *
 * **Certificates and challenges.** The CertificateManager stays in the
 * control plane. Each certificate it installs, each TLS-ALPN-01 certificate
 * and each HTTP-01 token is pushed to every worker and acknowledged before
 * the ACME client tells the CA to validate. Session ticket keys are made
 * here and pushed (and rotated) so a session resumes on any worker.
 *
 * **Supervision.** A worker that exits is replaced at once; the new one gets
 * the current generation, certificates, tokens and keys before it is given
 * the ports' sockets; meanwhile the others accept, and with none alive the
 * kernel queues connections on the socket the control plane still holds. stop() drains every worker and waits for each to exit. A
 * worker exits when its IPC channel closes, so the control plane dying
 * takes its workers with it.
 *
 * All state changes sent to workers (generations, pushes, a joining worker's
 * replay) run one at a time on one queue, so a joining worker can never miss
 * a push that happened during its replay.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { PortBindError, PortInUseError, WorkerError } from '../errors.js';
import type { IMetrics } from '../metrics/metrics.js';
import type { ListenHandle } from '../ports/listen-handle.js';
import type { ILiveOptions, ISmartProxyOptions, LogLevel } from '../options.js';
import type { IRouteConfig } from '../routing/types.js';
import { SerialQueue } from '../util/serial-queue.js';
import { emptyCounters, groupMetrics, retire } from './group-metrics.js';
import type { InternalRouteData, WorkerSettings } from './protocol.js';
import { WorkerHandle, WorkerRequestError, type RequestBody } from './worker-handle.js';
import { forwardLog } from './worker-log.js';

/** How often the session ticket keys change. Tickets older than this need a full handshake. */
const ticketKeyLifetimeMs = 12 * 3600_000;
/** How often the group's Prometheus text is pushed to the workers. */
const groupMetricsIntervalMs = 1000;

/** The number of workers an option asks for: 'auto' is the machine's available parallelism. */
export function workerCount(option: number | 'auto'): number {
  return option === 'auto' ? availableParallelism() : option;
}

/** The group a SmartProxy with the `workers` option runs, set up from its options. */
export function createWorkerGroup(workers: number | 'auto', options: ISmartProxyOptions, logger: Logger, renderMetrics: () => string): WorkerGroup {
  return new WorkerGroup({
    count: workerCount(workers),
    logger,
    renderMetrics,
    settings: {
      host: options.host,
      tls: options.tls,
      live: { timeouts: options.timeouts, limits: options.limits, trustedProxies: options.trustedProxies },
      logLevel: logger.level as LogLevel,
      http2: options.http2,
      proxyProtocol: options.proxyProtocol,
      accessLog: options.accessLog !== undefined && options.accessLog !== false,
    },
  });
}

export interface WorkerGroupOptions {
  count: number;
  settings: WorkerSettings;
  logger: Logger;
  /** The group's metrics in Prometheus text, for `metrics` routes served by workers. */
  renderMetrics(): string;
}

/** A route generation staged in every worker, waiting for the control plane to commit or abort it. */
export interface StagedGeneration {
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** Each routed port's bound socket, as the control plane's PortManager holds it. */
export type Listeners = ReadonlyMap<number, ListenHandle>;

interface Generation {
  id: number;
  routes: IRouteConfig[];
  internal: InternalRouteData[];
  listeners: Listeners;
}

/** The control plane's side of the workers: spawns, feeds, supervises and stops them. */
export class WorkerGroup {
  readonly #options: WorkerGroupOptions;
  readonly #logger: Logger;
  readonly #queue = new SerialQueue();
  /** Workers that have the current state and accept connections, in start order. */
  readonly #live: WorkerHandle[] = [];
  readonly #all = new Set<WorkerHandle>();
  readonly #certificates = new Map<string, { cert: string; key: string }>();
  readonly #alpn = new Map<string, { key: string; cert: string }>();
  readonly #tokens = new Map<string, string>();
  readonly #retired = emptyCounters();
  #current: Generation | undefined;
  #nextGeneration = 1;
  #ticketKeys = randomBytes(48);
  #liveOptions: ILiveOptions;
  #timers: NodeJS.Timeout[] = [];
  #stopping = false;

  constructor(options: WorkerGroupOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#liveOptions = options.settings.live;
  }

  /** Forks every worker and waits until each is ready to take routes. */
  async start(): Promise<void> {
    this.#stopping = false;
    const rotate = setInterval(() => void this.#rotateTicketKeys(), ticketKeyLifetimeMs);
    const publish = setInterval(() => this.#publishMetrics(), groupMetricsIntervalMs);
    rotate.unref();
    publish.unref();
    this.#timers = [rotate, publish];
    const spawned = await Promise.allSettled(Array.from({ length: this.#options.count }, () => this.#spawn()));
    const failed = spawned.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await this.stop(0);
      throw new WorkerError(`starting worker processes: ${(failed.reason as Error).message}`, { cause: failed.reason });
    }
  }

  /**
   * Phase one of a route generation in every live worker: each is sent the
   * sockets of `listeners` it does not accept from yet, then the table.
   * Rejects (having aborted it everywhere) when a worker cannot take it.
   * Holds the group's queue until the generation is committed or aborted.
   */
  stage(routes: IRouteConfig[], internal: InternalRouteData[], listeners: Listeners): Promise<StagedGeneration> {
    return new Promise((resolve, reject) => {
      void this.#queue.run(async () => {
        const generation: Generation = { id: this.#nextGeneration++, routes, internal, listeners };
        const workers = this.#live.slice();
        const stageIn = async (worker: WorkerHandle) => {
          await this.#shareListeners(worker, listeners);
          await worker.request({ type: 'stage', generation: generation.id, routes, internal });
        };
        const results = await Promise.allSettled(workers.map(stageIn));
        // A worker that died meanwhile is not a failed update: its replacement gets the committed state.
        const failure = results.find((r, i): r is PromiseRejectedResult => r.status === 'rejected' && workers[i]!.alive);
        if (failure !== undefined) {
          await this.#orReplace(workers, { type: 'abort', generation: generation.id });
          this.#settleListeners(workers, this.#current?.listeners);
          return reject(workerError(failure.reason));
        }
        let decided!: () => void;
        const done = new Promise<void>((r) => (decided = r));
        resolve({
          commit: async () => {
            try {
              // Never fails the update: a worker that cannot commit a table it staged is broken, so it is
              // replaced, and its replacement starts from this generation.
              await this.#orReplace(workers, { type: 'commit', generation: generation.id });
              this.#settleListeners(workers, listeners);
              this.#current = generation;
            } finally {
              decided();
            }
          },
          abort: async () => {
            try {
              await this.#orReplace(workers, { type: 'abort', generation: generation.id });
              this.#settleListeners(workers, this.#current?.listeners);
            } finally {
              decided();
            }
          },
        });
        await done;
      }).catch(reject);
    });
  }

  /** A certificate the control plane installed (issued, renewed or loaded from the store): every worker serves it from now on. */
  pushCertificate(domain: string, cert: string, key: string): Promise<void> {
    return this.#push(() => this.#certificates.set(domain, { cert, key }), { type: 'certificate', domain, cert, key });
  }

  /** A TLS-ALPN-01 answer; resolves once every worker would present it. */
  pushAlpnCertificate(domain: string, pem: { key: string; cert: string } | undefined): Promise<void> {
    const change = () => (pem === undefined ? this.#alpn.delete(domain) : this.#alpn.set(domain, pem));
    return this.#push(change, { type: 'alpn', domain, ...pem });
  }

  /** An HTTP-01 token; resolves once every worker answers it. */
  pushToken(token: string, keyAuthorization: string | undefined): Promise<void> {
    const change = () => (keyAuthorization === undefined ? this.#tokens.delete(token) : this.#tokens.set(token, keyAuthorization));
    return this.#push(change, { type: 'token', token, keyAuthorization });
  }

  setOptions(options: ILiveOptions): Promise<void> {
    return this.#push(() => (this.#liveOptions = { ...this.#liveOptions, ...options }), { type: 'options', options });
  }

  /** The group's metrics from the control plane's own snapshot: traffic summed over the workers, live and retired. */
  metrics(base: IMetrics): IMetrics {
    return groupMetrics(base, this.#live.map((w) => ({ pid: w.pid, counters: w.counters })), this.#retired);
  }

  /** Pids of the worker processes alive now. */
  pids(): number[] {
    return [...this.#all].filter((w) => w.alive).map((w) => w.pid);
  }

  /** Drains every worker (up to `drainTimeoutMs`), then waits for each to exit; a worker that does not is killed. */
  async stop(drainTimeoutMs: number): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#live.length = 0;
    // A start() retried after a failed one must not hand its new workers a table that was never applied.
    this.#current = undefined;
    await Promise.all(
      [...this.#all].map(async (worker) => {
        const deadline = setTimeout(() => worker.kill(), drainTimeoutMs + 2000);
        worker.request({ type: 'stop', drainTimeoutMs }).catch(() => worker.kill());
        await worker.exited;
        clearTimeout(deadline);
      }),
    );
    this.#all.clear();
  }

  /** Applies a change to the group's state and sends it to every live worker, in queue order. */
  #push(change: () => unknown, body: RequestBody): Promise<void> {
    return this.#queue.run(async () => {
      change();
      await this.#everyWorker(this.#live.slice(), body);
    });
  }

  /** Sends to each worker and waits for all; a worker that dies on the way is left to its replacement. */
  async #everyWorker(workers: WorkerHandle[], body: RequestBody): Promise<void> {
    const results = await Promise.allSettled(workers.map((w) => w.request(body)));
    const failure = results.find((r, i): r is PromiseRejectedResult => r.status === 'rejected' && workers[i]!.alive);
    if (failure !== undefined) throw workerError(failure.reason);
  }

  /** Sends to each worker; one that answers with an error is killed (and so replaced) instead of failing the caller. */
  async #orReplace(workers: WorkerHandle[], body: RequestBody): Promise<void> {
    const results = await Promise.allSettled(workers.map((w) => w.request(body)));
    results.forEach((result, i) => {
      if (result.status === 'fulfilled' || !workers[i]!.alive) return;
      this.#logger.error({ pid: workers[i]!.pid, err: result.reason, step: body.type }, 'a worker failed a route generation step; replacing it');
      workers[i]!.kill();
    });
  }

  /** Sends a worker each socket it does not accept from yet, one at a time (Node sends handles one by one anyway). */
  async #shareListeners(worker: WorkerHandle, listeners: Listeners): Promise<void> {
    for (const [port, handle] of listeners) {
      if (worker.listening.has(port)) continue;
      await worker.request({ type: 'listen', port }, handle);
      worker.listening.add(port);
    }
  }

  /** After a commit or an abort each worker accepts only on the ports of the table it serves (worker-runtime.ts). */
  #settleListeners(workers: WorkerHandle[], listeners: Listeners | undefined): void {
    for (const worker of workers) worker.listening = new Set(listeners?.keys());
  }

  async #spawn(): Promise<void> {
    const worker = new WorkerHandle((line) => forwardLog(this.#logger, line));
    this.#all.add(worker);
    void worker.exited.then(() => this.#onExit(worker));
    try {
      await worker.ready;
      await this.#queue.run(() => this.#join(worker));
    } catch (error) {
      // Half set up, it must not linger: its exit starts the next replacement (unless stopping).
      worker.kill();
      throw error;
    }
  }

  /** Gives a new worker the group's whole state, the ports' sockets with it. Runs on the queue. */
  async #join(worker: WorkerHandle): Promise<void> {
    if (this.#stopping) return;
    await worker.request({ type: 'init', settings: { ...this.#options.settings, live: this.#liveOptions } });
    await worker.request({ type: 'ticket-keys', keys: this.#ticketKeys.toString('base64') });
    for (const [domain, { cert, key }] of this.#certificates) await worker.request({ type: 'certificate', domain, cert, key });
    for (const [domain, pem] of this.#alpn) await worker.request({ type: 'alpn', domain, ...pem });
    for (const [token, keyAuthorization] of this.#tokens) await worker.request({ type: 'token', token, keyAuthorization });
    const current = this.#current;
    if (current !== undefined) {
      await worker.request({ type: 'stage', generation: current.id, routes: current.routes, internal: current.internal });
      await worker.request({ type: 'commit', generation: current.id });
      // Only now: a worker accepting before its first commit would meet an empty table and drop the connection.
      await this.#shareListeners(worker, current.listeners);
    }
    this.#live.push(worker);
    this.#logger.debug({ pid: worker.pid, workers: this.#live.length }, 'worker serving');
  }

  #onExit(worker: WorkerHandle): void {
    this.#all.delete(worker);
    const i = this.#live.indexOf(worker);
    if (i >= 0) this.#live.splice(i, 1);
    if (worker.counters !== undefined) retire(this.#retired, worker.counters);
    if (this.#stopping) return;
    this.#logger.error({ pid: worker.pid, code: worker.child.exitCode, signal: worker.child.signalCode }, 'worker process exited; starting a replacement');
    // One that dies young (a crash while booting or joining) is replaced after a pause, not in a tight loop.
    const pause = Date.now() - worker.startedAt < 1000 ? 1000 : 0;
    const timer = setTimeout(() => {
      if (this.#stopping) return;
      // A replacement that fails is killed by #spawn, and its exit comes back here.
      this.#spawn().catch((error: unknown) => this.#logger.error({ err: error }, 'starting a replacement worker failed'));
    }, pause);
    timer.unref();
  }

  async #rotateTicketKeys(): Promise<void> {
    const keys = randomBytes(48);
    await this.#push(() => (this.#ticketKeys = keys), { type: 'ticket-keys', keys: keys.toString('base64') }).catch((error: unknown) =>
      this.#logger.error({ err: error }, 'rotating TLS session ticket keys'),
    );
  }

  #publishMetrics(): void {
    if (this.#live.length === 0) return;
    const text = this.#options.renderMetrics();
    for (const worker of this.#live) worker.notify({ type: 'group-metrics', text });
  }
}

/** A worker's failure as the typed error a single process would have thrown. */
function workerError(reason: unknown): Error {
  if (!(reason instanceof WorkerRequestError)) return new WorkerError(`worker processes: ${String((reason as Error)?.message ?? reason)}`, { cause: reason });
  const { code, port, message } = reason.failure;
  if (code === 'EADDRINUSE' && port !== undefined) return new PortInUseError(port, { cause: reason });
  if (code === 'ERR_PORT_BIND' && port !== undefined) return new PortBindError(port, reason);
  return new WorkerError(`worker ${reason.pid} could not apply a change: ${message}`, { cause: reason, pid: reason.pid });
}
