/**
 * Admission of one HTTP request to its route, for every engine: the route's
 * connection limit, the request's place in the connection tracker (so a
 * draining stop() knows the connection is busy) and its count in the
 * metrics once it is over. Connection-level limits (global, per client IP)
 * were checked when the connection was accepted.
 */
import type { Socket } from 'node:net';
import type { Route } from '../../routing/route.js';
import type { ProxyContext } from '../context.js';

/** Takes one of the route's slots for a request on `socket`; false (and a counted limit hit) when the route is full. */
export function admitRequest(ctx: ProxyContext, route: Route, socket: Socket): boolean {
  const state = route.state;
  if (state.connections >= route.maxConnections) {
    ctx.limitReporter.hit('route.maxConnections', { route: route.name, max: route.maxConnections });
    return false;
  }
  state.connections++;
  ctx.tracker.requestStarted(socket);
  return true;
}

/**
 * Gives the slot back, counts the request with the bytes its connection
 * moved since the previous one, and writes its access log record (`status`:
 * what the client was answered, 0 when it went away first).
 */
export function finishRequest(ctx: ProxyContext, route: Route, port: number, socket: Socket, status = 0): void {
  releaseRequest(ctx, route, socket);
  countRequest(ctx, route, port, socket);
  if (ctx.accessLog !== undefined) ctx.accessLog.request(socket, route.name, port, status, counted.bytesIn, counted.bytesOut);
}

/** The bytes the last counted request moved, read by the access log (a module slot, so counting allocates nothing). */
const counted = { bytesIn: 0, bytesOut: 0 };

/** Gives the slot back without counting (an upgraded connection counts its bytes as a route connection). */
export function releaseRequest(ctx: ProxyContext, route: Route, socket: Socket): void {
  route.state.connections--;
  ctx.tracker.requestFinished(socket);
}

/** Bytes each connection had moved when its last request was counted. */
const countedBytes = new WeakMap<Socket, { read: number; written: number }>();

/**
 * Counts a finished request with the bytes its connection moved since the
 * previous one: the head and body were often read in one chunk before the
 * request was parsed, so a snapshot taken at the start would miss them.
 */
export function countRequest(ctx: ProxyContext, route: Route, port: number, socket: Socket): void {
  const last = countedBytes.get(socket) ?? { read: 0, written: 0 };
  counted.bytesIn = socket.bytesRead - last.read;
  counted.bytesOut = socket.bytesWritten - last.written;
  ctx.metrics.request(route.name, port, counted.bytesIn, counted.bytesOut);
  last.read = socket.bytesRead;
  last.written = socket.bytesWritten;
  countedBytes.set(socket, last);
}

/** A route removed by updateRoutes() serves its last response and closes the connection, so the next request meets the new table fresh. */
export function closesAfterResponse(route: Route): boolean {
  return route.state.retired;
}
