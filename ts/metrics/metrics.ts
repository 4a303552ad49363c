import type { Socket } from 'node:net';
import type { LimitName } from '../options.js';

/** One upstream target of a forward route, as getMetrics() shows it. */
export interface IUpstreamMetrics {
  /** `host:port` as configured. */
  target: string;
  /** The active health check's verdict (true when the route has no check). */
  healthy: boolean;
  /** Passively ejected after repeated failures, for now. */
  ejected: boolean;
  /** Connections or requests in flight to it. */
  activeConnections: number;
  /** Connect failures and resets since the route went live. */
  failures: number;
}

/** Traffic counters of one route or one port. Counters only grow; `active` goes up and down. */
export interface ITrafficCounters {
  activeConnections: number;
  totalConnections: number;
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

export interface IPortMetrics extends ITrafficCounters {
  /** Live routes on the port (its listener's reference count). */
  refCount: number;
  /** Requests the proxy answered itself on this port, by status: 400, 404, 408, 421, 431, 501, 503 (no route, refused, over a limit). */
  answeredByProxy: Record<string, number>;
}

export interface ICertificateMetrics {
  domain: string;
  status: string;
  source: string;
  expiryDate?: Date;
}

/** One live worker process's own counters (`workers` option); `activeConnections` is its open connections now. */
export interface IWorkerMetrics {
  pid: number;
  requests: number;
  activeConnections: number;
  totalConnections: number;
  bytesIn: number;
  bytesOut: number;
}

export interface IMetrics extends ITrafficCounters {
  routes: Record<string, ITrafficCounters>;
  ports: Record<string, IPortMetrics>;
  certificates: ICertificateMetrics[];
  /** Clients turned away or cut off, by limit (see LimitName); a limit never hit is absent. */
  limitHits: Partial<Record<LimitName, number>>;
  /** Each forward route's targets by route name: health, ejection, in flight, failures. */
  upstreams: Record<string, IUpstreamMetrics[]>;
  uptimeSeconds: number;
  /** With the `workers` option: each live worker, in start order (counters at most a quarter second old). Absent otherwise. */
  workers?: IWorkerMetrics[];
}

function counters(): ITrafficCounters {
  return { activeConnections: 0, totalConnections: 0, requests: 0, bytesIn: 0, bytesOut: 0 };
}

/**
 * A socket whose bytes feed some counters while it is open: what it had
 * moved when last added is kept, so a scrape adds only what is new and a
 * long download or tunnel shows up while it runs, not when it ends.
 */
export class Meter {
  readonly socket: Socket;
  readonly counters: readonly ITrafficCounters[];
  read: number;
  written: number;
  /** Where the meter started, for the bytes one request moved (the access log's figures). */
  readonly startRead: number;
  readonly startWritten: number;

  constructor(socket: Socket, counters: readonly ITrafficCounters[], read: number, written: number) {
    this.socket = socket;
    this.counters = counters;
    this.read = read;
    this.written = written;
    this.startRead = read;
    this.startWritten = written;
  }

  /** Adds the bytes moved since the last flush to every counter. */
  flush(): void {
    const read = this.socket.bytesRead;
    const written = this.socket.bytesWritten;
    const inDelta = read - this.read;
    const outDelta = written - this.written;
    if (inDelta === 0 && outDelta === 0) return;
    this.read = read;
    this.written = written;
    for (const c of this.counters) {
      c.bytesIn += inDelta;
      c.bytesOut += outDelta;
    }
  }
}

/**
 * The proxy's counters, kept as plain numbers updated in place: counting
 * costs a property increment on the hot path and nothing is allocated per
 * connection or request.
 */
export class MetricsCollector {
  readonly total = counters();
  readonly #routes = new Map<string, ITrafficCounters>();
  readonly #ports = new Map<number, ITrafficCounters>();
  readonly #answered = new Map<number, Record<string, number>>();
  /** Open meters, flushed on every snapshot. */
  readonly #meters = new Set<Meter>();
  /** The counter lists meters feed, one per port and per route, shared by every meter (no array per connection or request). */
  readonly #portInto = new Map<number, readonly ITrafficCounters[]>();
  readonly #routeInto = new Map<string, readonly ITrafficCounters[]>();
  readonly #startedAt = Date.now();

  /** Starts counting `socket`'s bytes (from `read`/`written` on) into `into`, until unmetered. */
  meter(socket: Socket, into: readonly ITrafficCounters[], read = socket.bytesRead, written = socket.bytesWritten): Meter {
    const meter = new Meter(socket, into, read, written);
    this.#meters.add(meter);
    return meter;
  }

  /** Adds the meter's last bytes and stops it. */
  unmeter(meter: Meter): void {
    meter.flush();
    this.#meters.delete(meter);
  }

  /** A request the proxy answered itself (no route, refused, over a limit), per port and status. */
  answered(port: number, status: number): void {
    let byStatus = this.#answered.get(port);
    if (byStatus === undefined) this.#answered.set(port, (byStatus = {}));
    byStatus[status] = (byStatus[status] ?? 0) + 1;
  }

  route(name: string): ITrafficCounters {
    let entry = this.#routes.get(name);
    if (entry === undefined) this.#routes.set(name, (entry = counters()));
    return entry;
  }

  port(port: number): ITrafficCounters {
    let entry = this.#ports.get(port);
    if (entry === undefined) this.#ports.set(port, (entry = counters()));
    return entry;
  }

  /** An accepted client connection, counted on its port and in total while it is open; returns its meter for connectionClosed. */
  connectionOpened(port: number, socket: Socket): Meter {
    const p = this.port(port);
    p.activeConnections++;
    p.totalConnections++;
    this.total.activeConnections++;
    this.total.totalConnections++;
    let into = this.#portInto.get(port);
    if (into === undefined || into[0] !== p) this.#portInto.set(port, (into = [p, this.total]));
    return this.meter(socket, into, 0, 0);
  }

  connectionClosed(port: number, meter: Meter): void {
    this.unmeter(meter);
    this.port(port).activeConnections--;
    this.total.activeConnections--;
  }

  /**
   * A connection (or a request in flight) held by a route: counted in the
   * route's active and total connections, its bytes from `read`/`written` on.
   */
  routeConnectionOpened(name: string, socket: Socket, read = 0, written = 0): Meter {
    const r = this.route(name);
    r.activeConnections++;
    r.totalConnections++;
    let into = this.#routeInto.get(name);
    if (into === undefined || into[0] !== r) this.#routeInto.set(name, (into = [r]));
    return this.meter(socket, into, read, written);
  }

  routeConnectionClosed(meter: Meter): void {
    this.unmeter(meter);
    meter.counters[0]!.activeConnections--;
  }

  /** One HTTP request answered by a route (its bytes come through the route's meter). */
  request(name: string, port: number): void {
    this.route(name).requests++;
    this.port(port).requests++;
    this.total.requests++;
  }

  snapshot(extra: { refCounts: Map<number, number>; certificates: ICertificateMetrics[]; limitHits: Partial<Record<LimitName, number>>; upstreams?: Record<string, IUpstreamMetrics[]> }): IMetrics {
    for (const meter of this.#meters) meter.flush();
    const routes: Record<string, ITrafficCounters> = {};
    for (const [name, c] of this.#routes) routes[name] = { ...c };
    const ports: Record<string, IPortMetrics> = {};
    const allPorts = new Set([...this.#ports.keys(), ...extra.refCounts.keys()]);
    for (const port of [...allPorts].sort((a, b) => a - b)) {
      ports[port] = { ...(this.#ports.get(port) ?? counters()), refCount: extra.refCounts.get(port) ?? 0, answeredByProxy: { ...this.#answered.get(port) } };
    }
    return {
      ...this.total,
      routes,
      ports,
      certificates: extra.certificates,
      limitHits: extra.limitHits,
      upstreams: extra.upstreams ?? {},
      uptimeSeconds: Math.floor((Date.now() - this.#startedAt) / 1000),
    };
  }
}
