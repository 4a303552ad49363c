/**
 * What an upstream failure means to the client and whether the request may
 * be tried again, for every engine. The statuses are the proxy's own
 * answers while nothing of the response was sent; once it was, the client
 * connection is cut instead.
 */

import { passiveDefaults } from '../balancer/upstream.js';

/** How a forwarded request failed; `no-target` when every target of the route is down or was tried. */
export type UpstreamFailure = 'connect-timeout' | 'response-timeout' | 'refused' | 'invalid-response' | 'no-target';

/** Retry-After (seconds) sent with a `no-target` 503: an ejected target is tried again after this. */
export const retryAfterSeconds = Math.ceil(passiveDefaults.ejectMs / 1000);

export function failureStatus(failure: UpstreamFailure): { status: number; detail: string } {
  switch (failure) {
    case 'connect-timeout':
      return { status: 504, detail: 'upstream did not accept the connection in time' };
    case 'response-timeout':
      return { status: 504, detail: 'upstream timed out' };
    case 'no-target':
      return { status: 503, detail: 'no upstream target is available' };
    case 'invalid-response':
      return { status: 502, detail: 'upstream sent an invalid response' };
    default:
      return { status: 502, detail: 'upstream unavailable' };
  }
}

/** Methods a request may be sent twice with (RFC 9110 §9.2.2). */
const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * Whether a request may be sent again if the pooled connection it went out
 * on turns out to have been closed by the upstream just as it was reused:
 * only when idempotent and without a body (nothing to replay), once.
 */
export function isRetryable(method: string, hasBody: boolean): boolean {
  return !hasBody && idempotent.has(method);
}

/**
 * How a request is answered once no target is left to try: a route with
 * several targets says all are down (503, Retry-After); a single target's
 * failure keeps its own status (502 refused, 504 timed out).
 */
export function exhaustedFailure(last: UpstreamFailure, targets: number): UpstreamFailure {
  return targets > 1 ? 'no-target' : last;
}

/** The error a reused connection the upstream had already closed fails with (or none: a plain close). */
export function isStaleConnectionError(error: NodeJS.ErrnoException | undefined): boolean {
  return error === undefined || error.code === 'ECONNRESET' || error.code === 'EPIPE';
}
