import type { IMetrics, ITrafficCounters, IWorkerMetrics } from '../metrics/metrics.js';
import type { LimitName } from '../options.js';
import type { WorkerCounters } from './protocol.js';

function zero(): ITrafficCounters {
  return { activeConnections: 0, totalConnections: 0, requests: 0, bytesIn: 0, bytesOut: 0 };
}

function add(into: ITrafficCounters, from: ITrafficCounters): void {
  into.activeConnections += from.activeConnections;
  into.totalConnections += from.totalConnections;
  into.requests += from.requests;
  into.bytesIn += from.bytesIn;
  into.bytesOut += from.bytesOut;
}

function addAll(into: Record<string, ITrafficCounters>, from: Record<string, ITrafficCounters>): void {
  for (const [key, counters] of Object.entries(from)) add((into[key] ??= zero()), counters);
}

/** Empty counters, the starting point of the retired-workers sum. */
export function emptyCounters(): WorkerCounters {
  return { total: zero(), routes: {}, ports: {}, limitHits: {} };
}

/**
 * Adds a dead worker's last counters to the retired sum, so the group's
 * counters never go down when a worker is replaced (its connections are
 * gone, so nothing stays active).
 */
export function retire(retired: WorkerCounters, last: WorkerCounters): void {
  const closed = (c: ITrafficCounters): ITrafficCounters => ({ ...c, activeConnections: 0 });
  add(retired.total, closed(last.total));
  for (const [name, c] of Object.entries(last.routes)) add((retired.routes[name] ??= zero()), closed(c));
  for (const [port, c] of Object.entries(last.ports)) add((retired.ports[port] ??= zero()), closed(c));
  addHits(retired.limitHits, last.limitHits);
}

function addHits(into: Partial<Record<LimitName, number>>, from: Partial<Record<LimitName, number>>): void {
  for (const [name, hits] of Object.entries(from) as [LimitName, number][]) into[name] = (into[name] ?? 0) + hits;
}

/**
 * The group's metrics: the control plane's own snapshot (ports and their
 * reference counts, certificates, uptime) with every traffic counter the
 * sum over the live workers and the retired ones.
 */
export function groupMetrics(base: IMetrics, live: { pid: number; counters: WorkerCounters | undefined }[], retired: WorkerCounters): IMetrics {
  const total = { ...retired.total };
  const routes: Record<string, ITrafficCounters> = {};
  const ports: Record<string, ITrafficCounters> = {};
  const limitHits: Partial<Record<LimitName, number>> = { ...base.limitHits };
  addAll(routes, retired.routes);
  addAll(ports, retired.ports);
  addHits(limitHits, retired.limitHits);
  const workers: IWorkerMetrics[] = [];
  for (const { pid, counters } of live) {
    const c = counters ?? emptyCounters();
    add(total, c.total);
    addAll(routes, c.routes);
    addAll(ports, c.ports);
    addHits(limitHits, c.limitHits);
    workers.push({ pid, ...c.total });
  }
  const portMetrics: IMetrics['ports'] = {};
  const allPorts = new Set([...Object.keys(base.ports), ...Object.keys(ports)]);
  for (const port of [...allPorts].sort((a, b) => Number(a) - Number(b))) {
    // Workers answer what the control plane never sees: their own answers are summed per status.
    const answeredByProxy: Record<string, number> = { ...base.ports[port]?.answeredByProxy };
    for (const { counters } of live) {
      for (const [status, count] of Object.entries(counters?.ports[port]?.answeredByProxy ?? {})) answeredByProxy[status] = (answeredByProxy[status] ?? 0) + count;
    }
    portMetrics[port] = { ...(ports[port] ?? zero()), refCount: base.ports[port]?.refCount ?? 0, answeredByProxy };
  }
  return { ...base, ...total, routes, ports: portMetrics, limitHits, workers };
}
