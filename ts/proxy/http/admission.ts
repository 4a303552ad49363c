/**
 * Admission of one HTTP request to its route, for every engine: the route's
 * connection limit, the request's place in the connection tracker (so a
 * draining stop() knows the connection is busy) and its metrics — counted
 * in the route's active connections while in flight, with the bytes its
 * connection moves flowing into the route's counters as they move.
 * Connection-level limits (global, per client IP) were checked when the
 * connection was accepted.
 */
import type { Socket } from 'node:net';
import type { Meter } from '../../metrics/metrics.js';
import type { Route } from '../../routing/route.js';
import type { ProxyContext } from '../context.js';

/** Meters of the requests in flight on each connection (several on an HTTP/2 session). */
const inFlight = new WeakMap<Socket, Meter[]>();
/** Bytes each connection had moved when its last request finished: the next request's bytes start there. */
const counted = new WeakMap<Socket, { read: number; written: number }>();
/** Where each request's meter started, for the bytes its access log record states. */
const starts = new WeakMap<Meter, { read: number; written: number }>();

/** Takes one of the route's slots for a request on `socket`; false (and a counted limit hit) when the route is full. */
export function admitRequest(ctx: ProxyContext, route: Route, socket: Socket): boolean {
  const state = route.state;
  if (state.connections >= route.maxConnections) {
    ctx.limitReporter.hit('route.maxConnections', { route: route.name, max: route.maxConnections });
    return false;
  }
  state.connections++;
  ctx.tracker.requestStarted(socket);
  const meters = inFlight.get(socket);
  // The bytes of a connection go to one route at a time: a second request in flight on it (HTTP/2) is counted, its bytes are not split.
  const from = meters === undefined ? counted.get(socket) : undefined;
  const meter = meters === undefined ? ctx.metrics.routeConnectionOpened(route.name, socket, from?.read ?? 0, from?.written ?? 0) : ctx.metrics.routeConnectionOpened(route.name, socket);
  starts.set(meter, { read: meter.read, written: meter.written });
  if (meters === undefined) inFlight.set(socket, [meter]);
  else meters.push(meter);
  return true;
}

/**
 * Gives the slot back, counts the request as answered by the route, and
 * writes its access log record (`status`: what the client was answered, 0
 * when it went away first).
 */
export function finishRequest(ctx: ProxyContext, route: Route, port: number, socket: Socket, status = 0): void {
  releaseRequest(ctx, route, socket);
  ctx.metrics.request(route.name, port);
  if (ctx.accessLog !== undefined) ctx.accessLog.request(socket, route.name, port, status, moved.bytesIn, moved.bytesOut);
}

/** The bytes the request just released moved, read by the access log (a module slot, so counting allocates nothing). */
const moved = { bytesIn: 0, bytesOut: 0 };

/** Gives the slot back without counting a request (an upgrade counted its request when it began). */
export function releaseRequest(ctx: ProxyContext, route: Route, socket: Socket): void {
  route.state.connections--;
  ctx.tracker.requestFinished(socket);
  moved.bytesIn = 0;
  moved.bytesOut = 0;
  const meters = inFlight.get(socket);
  if (meters === undefined) return;
  const routeCounters = ctx.metrics.route(route.name);
  const at = meters.findIndex((meter) => meter.counters[0] === routeCounters);
  const [meter] = meters.splice(at === -1 ? 0 : at, 1);
  if (meters.length === 0) inFlight.delete(socket);
  if (meter === undefined) return;
  ctx.metrics.routeConnectionClosed(meter);
  const start = starts.get(meter);
  moved.bytesIn = meter.read - (start?.read ?? 0);
  moved.bytesOut = meter.written - (start?.written ?? 0);
  if (meters.length === 0) counted.set(socket, { read: meter.read, written: meter.written });
}

/** A route removed by updateRoutes() serves its last response and closes the connection, so the next request meets the new table fresh. */
export function closesAfterResponse(route: Route): boolean {
  return route.state.retired;
}
