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

/** What a connection's HTTP requests share: the meters of those in flight (several on an HTTP/2 session), and where the next one's bytes start. */
interface ConnectionRequests {
  readonly meters: Meter[];
  /** Bytes the connection had moved when its last request finished. */
  read: number;
  written: number;
}

// Kept on the socket itself: a WeakMap entry per request cost more than the request's own routing.
const kRequests = Symbol('httpRequests');
type RequestSocket = Socket & { [kRequests]?: ConnectionRequests };

/** Takes one of the route's slots for a request on `socket`; false (and a counted limit hit) when the route is full. */
export function admitRequest(ctx: ProxyContext, route: Route, socket: Socket): boolean {
  const state = route.state;
  if (state.connections >= route.maxConnections) {
    ctx.limitReporter.hit('route.maxConnections', { route: route.name, max: route.maxConnections });
    return false;
  }
  state.connections++;
  ctx.tracker.requestStarted(socket);
  const s = socket as RequestSocket;
  const requests = (s[kRequests] ??= { meters: [], read: 0, written: 0 });
  // The bytes of a connection go to one route at a time: a second request in flight on it (HTTP/2) is counted, its bytes are not split.
  const meter =
    requests.meters.length === 0 ? ctx.metrics.routeConnectionOpened(route.name, socket, requests.read, requests.written) : ctx.metrics.routeConnectionOpened(route.name, socket);
  requests.meters.push(meter);
  return true;
}

/**
 * Gives the slot back, counts the request as answered by the route, and
 * writes its access log record (`status`: what the client was answered, 0
 * when it went away first).
 */
export function finishRequest(ctx: ProxyContext, route: Route, port: number, socket: Socket, status = 0, logKey: object = socket): void {
  releaseRequest(ctx, route, socket);
  ctx.metrics.request(route.name, port);
  if (ctx.accessLog !== undefined) ctx.accessLog.request(logKey, socket, route.name, port, status, moved.bytesIn, moved.bytesOut);
}

/** The bytes the request just released moved, read by the access log (a module slot, so counting allocates nothing). */
const moved = { bytesIn: 0, bytesOut: 0 };

/** Gives the slot back without counting a request (an upgrade counted its request when it began). */
export function releaseRequest(ctx: ProxyContext, route: Route, socket: Socket): void {
  route.state.connections--;
  ctx.tracker.requestFinished(socket);
  moved.bytesIn = 0;
  moved.bytesOut = 0;
  const requests = (socket as RequestSocket)[kRequests];
  if (requests === undefined || requests.meters.length === 0) return;
  const meters = requests.meters;
  let at = 0;
  if (meters.length > 1) {
    const routeCounters = ctx.metrics.route(route.name);
    at = Math.max(0, meters.findIndex((meter) => meter.counters[0] === routeCounters));
  }
  const meter = meters[at]!;
  meters.splice(at, 1);
  ctx.metrics.routeConnectionClosed(meter);
  moved.bytesIn = meter.read - meter.startRead;
  moved.bytesOut = meter.written - meter.startWritten;
  if (meters.length === 0) {
    requests.read = meter.read;
    requests.written = meter.written;
  }
}

/** A route removed by updateRoutes() serves its last response and closes the connection, so the next request meets the new table fresh. */
export function closesAfterResponse(route: Route): boolean {
  return route.state.retired;
}
