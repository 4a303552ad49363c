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
}

export interface ICertificateMetrics {
  domain: string;
  status: string;
  source: string;
  expiryDate?: Date;
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
}

function counters(): ITrafficCounters {
  return { activeConnections: 0, totalConnections: 0, requests: 0, bytesIn: 0, bytesOut: 0 };
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
  readonly #startedAt = Date.now();

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

  connectionOpened(port: number): void {
    const p = this.port(port);
    p.activeConnections++;
    p.totalConnections++;
    this.total.activeConnections++;
    this.total.totalConnections++;
  }

  connectionClosed(port: number, bytesIn: number, bytesOut: number): void {
    const p = this.port(port);
    p.activeConnections--;
    p.bytesIn += bytesIn;
    p.bytesOut += bytesOut;
    this.total.activeConnections--;
    this.total.bytesIn += bytesIn;
    this.total.bytesOut += bytesOut;
  }

  /** A whole connection matched to a route (TCP, passthrough, socket handler). */
  routeConnectionOpened(name: string): ITrafficCounters {
    const r = this.route(name);
    r.activeConnections++;
    r.totalConnections++;
    return r;
  }

  routeConnectionClosed(counters: ITrafficCounters, bytesIn: number, bytesOut: number): void {
    counters.activeConnections--;
    counters.bytesIn += bytesIn;
    counters.bytesOut += bytesOut;
  }

  /** One HTTP request answered by a route, with the bytes it moved on the client connection. */
  request(name: string, port: number, bytesIn: number, bytesOut: number): void {
    const r = this.route(name);
    r.requests++;
    r.bytesIn += bytesIn;
    r.bytesOut += bytesOut;
    this.port(port).requests++;
    this.total.requests++;
  }

  snapshot(extra: { refCounts: Map<number, number>; certificates: ICertificateMetrics[]; limitHits: Partial<Record<LimitName, number>>; upstreams?: Record<string, IUpstreamMetrics[]> }): IMetrics {
    const routes: Record<string, ITrafficCounters> = {};
    for (const [name, c] of this.#routes) routes[name] = { ...c };
    const ports: Record<string, IPortMetrics> = {};
    const allPorts = new Set([...this.#ports.keys(), ...extra.refCounts.keys()]);
    for (const port of [...allPorts].sort((a, b) => a - b)) {
      ports[port] = { ...(this.#ports.get(port) ?? counters()), refCount: extra.refCounts.get(port) ?? 0 };
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
